import FoundationEssentials
import TetraCore

/// The `ssl` group: certificates under ssl/<domain>/ (tetra's own ACME client, self-signed,
/// imported), renewal with rollback, deploy hooks.
enum SSLCommands {
    static func service(_ env: CommandEnvironment) -> SSLService { SSLService(core: env.core) }

    static var spec: CommandSpec {
        CommandSpec("ssl", summary: "TLS certificates (ssl/<domain>/): ACME HTTP-01, self-signed, imported", subcommands: [
            list, get, generate, ensure, renew, rollback, importCommand, delete,
        ])
    }

    static let domainArg = ArgSpec("DOMAIN", help: "the certificate's domain (its directory under ssl/)", completion: .dynamic(.domains))

    static let issueFlags: [FlagSpec] = [
        FlagSpec("alt", value: .string, placeholder: "NAME", repeatable: true, help: "another DNS name on the certificate (repeatable)"),
        tagFlag,
        FlagSpec("email", value: .string, placeholder: "EMAIL", help: "contact for a new ACME account (default: acme_email in config/tetra.toml)"),
        FlagSpec("key-type", value: .choice(["ec256", "rsa2048"]), placeholder: "TYPE", help: "key of the certificate, and of a new ACME account (default ec256)"),
        FlagSpec("acme-server", value: .string, placeholder: "URL", help: "ACME directory URL (default: Let's Encrypt production)"),
        FlagSpec("staging", help: "use Let's Encrypt's staging server"),
        FlagSpec("acme-ca", value: .path, placeholder: "FILE", help: "trust this CA bundle for the ACME requests (also $TETRA_ACME_CA_BUNDLE)"),
        FlagSpec("http-port", value: .integer(min: 1, max: 65535), placeholder: "PORT", help: "serve HTTP-01 with tetra's own listener on PORT (default 80)"),
        FlagSpec("webroot", value: .path, placeholder: "DIR", help: "write HTTP-01 files under DIR/.well-known/acme-challenge/ for a running web server", completion: .directory),
        FlagSpec("self-signed", help: "sign the certificate with its own key instead of using ACME (wildcards allowed)"),
        FlagSpec("days", value: .integer(min: 1, max: 3650), placeholder: "N", help: "validity of a self-signed certificate (default 90)"),
        FlagSpec("deploy-hook", value: .string, placeholder: "CMD", help: "run CMD with /bin/sh -c after a new certificate is stored (TETRA_SSL_DOMAIN, _CERT, _KEY, _FULLCHAIN set)"),
    ]

    static let tagFlag = FlagSpec("tag", value: .string, placeholder: "TAG", repeatable: true,
                                  help: "a tag kept in meta.toml, across renewals (repeatable; tetra search tag:TAG)")

    static func issueOptions(_ inv: Invocation, _ env: CommandEnvironment) throws -> SSLService.IssueOptions {
        var o = SSLService.IssueOptions()
        o.altNames = inv.flagValues("alt")
        o.tags = inv.flagValues("tag")
        o.email = inv.flag("email")
        if let k = inv.flag("key-type") { o.keyType = SSLKeyType(rawValue: k) }
        if inv.has("staging") && inv.flag("acme-server") != nil {
            throw UsageError("--staging and --acme-server exclude each other", commandPath: inv.path)
        }
        if inv.has("staging") { o.server = SSLService.letsEncryptStaging }
        if let s = inv.flag("acme-server") { o.server = s }
        // curl opens the bundle for every request: a stream (`<(...)`, -) becomes a private copy.
        o.caBundle = try inv.flag("acme-ca").map {
            try InputFile.realFile($0 == "-" ? "-" : env.core.absolutePath($0), display: $0, limit: InputFile.pemLimit,
                                   directory: env.paths.ssl + "/ca-bundles", interrupt: env.core.interrupt)
        }
        if inv.flag("http-port") != nil && inv.flag("webroot") != nil {
            throw UsageError("--http-port and --webroot exclude each other", commandPath: inv.path)
        }
        o.httpPort = inv.int("http-port")
        o.webroot = inv.flag("webroot")
        o.selfSigned = inv.has("self-signed")
        if inv.flag("days") != nil && !o.selfSigned && inv.path.last == "generate" {
            throw UsageError("--days applies to --self-signed certificates (ACME servers choose the validity)", commandPath: inv.path)
        }
        o.days = inv.int("days")
        o.deployHook = inv.flag("deploy-hook")
        o.dryRun = env.options.dryRun
        return o
    }

    static func shortIssuer(_ issuer: String) -> String {
        for part in issuer.split(separator: ",") where part.hasPrefix("CN=") { return String(part.dropFirst(3)) }
        return issuer
    }

    /// "issued", or "would issue" on a dry run.
    static func actionText(_ r: SSLService.IssueResult) -> String {
        switch (r.dry_run, r.action) {
        case (true, .issued): return "would issue"
        case (true, .renewed): return "would renew"
        default: return r.action.rawValue
        }
    }

    static func resultText(_ r: SSLService.IssueResult) -> String {
        var line = "\(r.domain): \(actionText(r))"
        if r.action != .unchanged && r.action != .skipped { line += " (\(r.origin.rawValue))" }
        if let reason = r.reason { line += " - \(reason)" }
        if let na = r.not_after, r.action != .unchanged { line += "; valid until \(na)" }
        if r.names.count > 1 { line += "; names: \(r.names.joined(separator: ", "))" }
        line += "\n"
        if let hook = r.deploy_hook { line += "\(r.domain): deploy hook ran (exit \(hook.status))\n" }
        return line
    }

    static var list: CommandSpec {
        CommandSpec("list", summary: "List certificates: names, issuer, expiry, days left, origin",
                    discussion: """
                    Reads ssl/<domain>/meta.toml only (written when a certificate is stored), so it is
                    fast with many certificates. With --expiring, only certificates expiring within
                    DURATION are listed, and the exit status is 1 when there is any.
                    """,
                    flags: [FlagSpec("expiring", value: .duration, placeholder: "DURATION", help: "only certificates expiring within DURATION (e.g. 21d); exit 1 if any")],
                    examples: ["tetra ssl list", "tetra ssl list --expiring 21d --json"], json: true,
                    handler: { inv, env in
                        let window = try inv.duration("expiring")
                        if env.options.json {
                            // Written straight from the meta.toml bytes (same bytes as the JSON
                            // encoder): see directListJSON.
                            let (writer, count) = directListJSON(service(env), now: env.core.now(), within: window)
                            var output = CommandOutput(exitCode: window != nil && count > 0 ? .failure : .success,
                                                       json: ListResult(certificates: []))
                            if let writer { output.jsonStream = writer.write }
                            return output
                        }
                        var records = try service(env).list()
                        if let window {
                            let now = env.core.now()
                            records = records.filter { r in
                                Timestamps.parseISO8601(r.not_after).map { $0.timeIntervalSince(now) <= window } ?? true
                            }
                        }
                        let failing = window != nil && !records.isEmpty
                        let rows = records.map { [$0.domain, $0.names.joined(separator: ","), shortIssuer($0.issuer), $0.not_after, String($0.days_left), $0.origin.rawValue] }
                        let text: String
                        if records.isEmpty {
                            text = window == nil ? "no certificates\n" : "no certificates expiring within \(inv.flag("expiring")!)\n"
                        } else {
                            text = env.table(["domain", "names", "issuer", "not after", "days", "origin"], rows)
                        }
                        return CommandOutput(exitCode: failing ? .failure : .success, json: ListResult(certificates: records), text: text)
                    })
    }

    struct ListResult: Encodable { let certificates: [SSLService.Record] }

    static var get: CommandSpec {
        CommandSpec("get", summary: "Show a certificate's details and file paths",
                    arguments: [domainArg], examples: ["tetra ssl get example.com", "tetra ssl get example.com --json"], json: true,
                    handler: { inv, env in
                        let d = try service(env).get(inv.required("DOMAIN"))
                        let c = d.certificate
                        var text = ""
                        text += "domain:       \(c.domain)\n"
                        text += "names:        \(c.names.joined(separator: ", "))\n"
                        text += "subject:      \(d.subject)\n"
                        text += "issuer:       \(c.issuer)\n"
                        text += "not before:   \(c.not_before)\n"
                        text += "not after:    \(c.not_after) (\(c.days_left) days left)\n"
                        text += "serial:       \(c.serial)\n"
                        text += "sha256:       \(d.fingerprint_sha256)\n"
                        text += "origin:       \(c.origin.rawValue)\(d.acme_server.map { " (\($0))" } ?? "")\n"
                        text += "key type:     \(c.key_type)\n"
                        text += "stored:       \(d.created)\n"
                        text += "cert:         \(d.files.cert)\n"
                        text += "chain:        \(d.files.chain)\n"
                        text += "fullchain:    \(d.files.fullchain)\n"
                        text += "key:          \(d.files.key)\n"
                        if let p = d.previous {
                            text += "previous:     serial \(p.serial), not after \(p.not_after) ('tetra ssl rollback \(c.domain)')\n"
                        }
                        return CommandOutput(json: d, text: text)
                    })
    }

    static var generate: CommandSpec {
        CommandSpec("generate", summary: "Issue a certificate (ACME HTTP-01, or --self-signed)",
                    discussion: """
                    ACME (RFC 8555) with tetra's own client: account key (ssl/accounts/, 0600, created
                    once per server), order, HTTP-01 challenges served by a built-in listener on
                    --http-port (default 80) or written under --webroot, CSR, finalize, download.
                    ACME requests go through curl (--acme-ca adds --cacert). Wildcards need DNS-01,
                    which is not supported: they are refused unless --self-signed. An existing
                    certificate is replaced and kept as the previous version ('ssl rollback').
                    """,
                    arguments: [domainArg], flags: issueFlags,
                    examples: ["tetra ssl generate example.com --alt www.example.com --email ops@example.com",
                               "tetra ssl generate example.com --webroot /var/www/html --deploy-hook 'systemctl reload nginx'",
                               "tetra ssl generate '*.dev.test' --self-signed --days 30"],
                    mutates: true, json: true,
                    handler: { inv, env in
                        let options = try issueOptions(inv, env)
                        if !options.dryRun { try env.ensureStateRoot() }
                        let r = try service(env).generate(inv.required("DOMAIN"), options: options)
                        return CommandOutput(json: r, text: resultText(r))
                    })
    }

    static var ensure: CommandSpec {
        CommandSpec("ensure", summary: "Issue if missing, renew if due (or names changed), else do nothing",
                    arguments: [domainArg],
                    flags: issueFlags + [
                        FlagSpec("within", value: .duration, placeholder: "DURATION", default: "30d", help: "renew when expiring within DURATION"),
                        FlagSpec("force", help: "renew even when not due"),
                    ],
                    examples: ["tetra ssl ensure example.com --alt www.example.com --deploy-hook 'systemctl reload nginx'"],
                    mutates: true, json: true,
                    handler: { inv, env in
                        let options = try issueOptions(inv, env)
                        if !options.dryRun { try env.ensureStateRoot() }
                        let within = try inv.duration("within") ?? SSLService.defaultWithin
                        let r = try service(env).ensure(inv.required("DOMAIN"), options: options, within: within, force: inv.has("force"))
                        return CommandOutput(json: r, text: resultText(r))
                    })
    }

    static var renew: CommandSpec {
        CommandSpec("renew", summary: "Renew one certificate or --all that expire within --within (or --force)",
                    discussion: """
                    Repeats each certificate's issuance (server, challenge, key type are kept in its
                    meta.toml; flags override them) and keeps the version it replaces for 'ssl rollback'.
                    Imported certificates are skipped.
                    """,
                    arguments: [ArgSpec("DOMAIN", help: "the certificate to renew", optional: true, completion: .dynamic(.domains))],
                    flags: issueFlags.filter { !["alt", "self-signed", "days"].contains($0.name) } + [
                        FlagSpec("all", help: "every stored certificate"),
                        FlagSpec("within", value: .duration, placeholder: "DURATION", default: "30d", help: "renew when expiring within DURATION"),
                        FlagSpec("force", help: "renew even when not due"),
                    ],
                    examples: ["tetra ssl renew --all", "tetra ssl renew example.com --force"],
                    mutates: true, json: true,
                    handler: { inv, env in
                        let domain = inv.argument("DOMAIN")
                        if domain == nil && !inv.has("all") {
                            throw UsageError("name a DOMAIN or give --all", usage: "tetra ssl renew [DOMAIN|--all]", commandPath: inv.path)
                        }
                        if domain != nil && inv.has("all") {
                            throw UsageError("DOMAIN and --all exclude each other", usage: "tetra ssl renew [DOMAIN|--all]", commandPath: inv.path)
                        }
                        let options = try issueOptions(inv, env)
                        if !options.dryRun { try env.ensureStateRoot() }
                        let within = try inv.duration("within") ?? SSLService.defaultWithin
                        let results = try service(env).renew(domain, options: options, within: within, force: inv.has("force"))
                        struct Result: Encodable { let results: [SSLService.IssueResult] }
                        let failed = results.filter { $0.action == .failed }
                        let text = results.isEmpty ? "no certificates\n" : results.filter { $0.action != .failed }.map(resultText).joined()
                        // Errors go to stderr even under --quiet (notes would not).
                        for f in failed where !env.options.json {
                            env.cli.stderr.write("tetra: error: renewal of \(f.domain) failed: \(f.reason ?? "")\n")
                        }
                        return CommandOutput(exitCode: failed.isEmpty ? .success : .failure, json: Result(results: results), text: text)
                    })
    }

    static var rollback: CommandSpec {
        CommandSpec("rollback", summary: "Swap a certificate with its previous version",
                    discussion: "The version replaced by the last renewal, re-issue or import comes back; the current one becomes the previous (a second rollback undoes the first).",
                    arguments: [domainArg], examples: ["tetra ssl rollback example.com"], mutates: true, json: true,
                    handler: { inv, env in
                        let d = try service(env).rollback(inv.required("DOMAIN"), dryRun: env.options.dryRun)
                        let verb = env.options.dryRun ? "would roll back" : "rolled back"
                        let c = d.certificate
                        let text = env.options.dryRun
                            ? "\(verb) \(c.domain) to serial \(d.previous?.serial ?? "-") (not after \(d.previous?.not_after ?? "-"))\n"
                            : "\(verb) \(c.domain): serial \(c.serial), valid until \(c.not_after)\n"
                        return CommandOutput(json: d, text: text)
                    })
    }

    static var importCommand: CommandSpec {
        CommandSpec("import", summary: "Store a certificate obtained elsewhere (key and certificate must match)",
                    arguments: [domainArg],
                    flags: [
                        FlagSpec("cert", value: .path, placeholder: "FILE", help: "the certificate (PEM; further certificates in it become the chain)"),
                        FlagSpec("key", value: .path, placeholder: "FILE", help: "its private key (PEM, unencrypted)"),
                        FlagSpec("chain", value: .path, placeholder: "FILE", help: "intermediate certificates (PEM)"),
                        tagFlag,
                    ],
                    examples: ["tetra ssl import example.com --cert example.crt --key example.key --chain intermediate.pem"],
                    mutates: true, json: true,
                    handler: { inv, env in
                        guard let cert = inv.flag("cert"), let key = inv.flag("key") else {
                            throw UsageError("ssl import needs --cert FILE and --key FILE",
                                             usage: "tetra ssl import DOMAIN --cert FILE --key FILE [--chain FILE]", commandPath: inv.path)
                        }
                        if !env.options.dryRun { try env.ensureStateRoot() }
                        let r = try service(env).importCertificate(inv.required("DOMAIN"), cert: env.core.absolutePath(cert),
                                                                   key: env.core.absolutePath(key),
                                                                   chain: inv.flag("chain").map(env.core.absolutePath),
                                                                   tags: inv.flagValues("tag"), dryRun: env.options.dryRun)
                        let verb = r.dry_run ? "would import" : "imported"
                        return CommandOutput(json: r, text: "\(verb) \(r.domain) (\(r.names.joined(separator: ", "))), valid until \(r.not_after)\n")
                    })
    }

    static var delete: CommandSpec {
        CommandSpec("delete", summary: "Delete a certificate, its key and its previous version (needs --yes)",
                    arguments: [domainArg], examples: ["tetra ssl delete example.com --yes"], mutates: true, json: true,
                    handler: { inv, env in
                        let domain = try SSLService.validateDomain(inv.required("DOMAIN"))
                        let svc = service(env)
                        _ = try svc.meta(domain)
                        if !env.options.dryRun { try env.confirm("delete the certificate and key of \(domain)") }
                        let r = try svc.delete(domain, dryRun: env.options.dryRun)
                        struct Result: Encodable { let domain: String; let deleted: Bool; let dry_run: Bool }
                        let verb = env.options.dryRun ? "would delete" : "deleted"
                        return CommandOutput(json: Result(domain: r.domain, deleted: !env.options.dryRun, dry_run: env.options.dryRun),
                                             text: "\(verb) the certificate of \(r.domain)\n")
                    })
    }
}
