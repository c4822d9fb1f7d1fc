import Foundation
import XCTest
@testable import TetraCLI
import TetraCore
import TetraTestSupport

/// The `--json` contract (docs/json.md): every command with `--json` has a golden file of its
/// document under Golden/json/, every document follows the convention (one object, snake_case
/// keys, no null), and the error document of every kind is pinned under Golden/json/errors/.
/// Documents that need real components (the `volume` and `ssl` commands) are pinned by the
/// end-to-end tests (Tests/EndToEndTests/JSONGoldenE2ETests.swift) against the same files.
final class JSONGoldenTests: XCTestCase {
    static var jsonCommands: [String] {
        var out: [String] = []
        func walk(_ spec: CommandSpec, _ path: [String]) {
            if spec.handler != nil, spec.supportsJSON, !path.isEmpty { out.append(path.joined(separator: " ")) }
            for child in spec.subcommands where !child.hidden { walk(child, path + [child.name]) }
        }
        walk(CommandTable.root, [])
        return out
    }

    func testEveryCommandWithJSONHasAGoldenDocument() {
        let fm = FileManager.default
        for command in Self.jsonCommands {
            let exists = fm.fileExists(atPath: JSONContract.goldenPath(command))
            XCTAssertTrue(exists || Golden.updating, "'tetra \(command) --json' has no golden file \(JSONContract.goldenPath(command))")
        }
    }

    /// One state root walked through the commands that run without external components, on
    /// the fixed clock of `InProcess`; temporary paths read `$ROOT`.
    func testJSONDocumentsMatchTheirGoldens() throws {
        var cli = InProcess()
        var pinner = Pinner()
        func pin(_ command: String, _ argv: [String], status: Int32 = 0, file: StaticString = #filePath, line: UInt = #line) {
            pinner.pin(cli, command, argv, status: status, file: file, line: line)
        }
        pin("init", ["init"])
        pin("ports set", ["ports", "set", "api", "4000"])
        pin("ports get", ["ports", "get", "api"])
        pin("ports list", ["ports", "list"])
        pin("ports ranges", ["ports", "ranges"])
        pin("ports ranges set", ["ports", "ranges", "set", "batch", "9000-9099"])
        pin("ports export", ["ports", "export"])
        pin("org create", ["org", "create", "acme"])
        // Targets inside the temporary root (org/default's are /srv/acme/dev and ssh://...).
        for env in ["dev", "staging"] {
            pin("org set", ["org", "set", "environments.\(env).target", "\"\(cli.stateRoot)/targets/acme-\(env)\"", "--org", "acme"])
        }
        for env in ["dev", "staging", "prod"] { pin("ports allocate", ["ports", "allocate", "web", "--env", env, "--org", "acme"]) }
        pin("ports remove", ["ports", "remove", "api"])
        pin("org template", ["org", "template", "org/default", "shop", "--dry-run"])
        pin("org list", ["org", "list"])
        pin("org use", ["org", "use", "acme"])
        pin("org show", ["org", "show", "acme"])
        pin("org validate", ["org", "validate", "acme"])
        pin("env list", ["env", "list", "--org", "acme"])
        pin("env show", ["env", "show", "dev", "--org", "acme"])
        pin("config get", ["config", "get", cli.stateRoot + "/orgs/acme/org.toml", "org.name"])
        pin("config set", ["config", "set", cli.stateRoot + "/orgs/acme/org.toml", "org.description", "\"the demo\"", "--dry-run"])
        pin("config check", ["config", "check", cli.stateRoot + "/orgs/acme/org.toml"])
        pin("template list", ["template", "list"])
        pin("template show", ["template", "show", "org/default"])
        pin("org push", ["org", "push", "acme", "dev"])
        pin("org push", ["org", "push", "acme", "staging"])
        pin("org status", ["org", "status", "acme", "dev"])
        pin("org history", ["org", "history", "acme", "dev"])
        pin("org diff", ["org", "diff", "acme", "dev"])
        pin("env history", ["env", "history", "dev", "--org", "acme"])
        pin("env diff", ["env", "diff", "dev", "staging", "--org", "acme"], status: 1)
        pin("svc list", ["svc", "list", "--org", "acme"])
        pin("ssl list", ["ssl", "list"])
        pin("audit", ["audit"])
        cli.now = { Date(timeIntervalSince1970: 1_795_000_100) }
        pin("env promote", ["env", "promote", "dev", "staging", "--org", "acme"])
        pin("env rollback", ["env", "rollback", "staging", "--org", "acme"])
        cli.now = { Date(timeIntervalSince1970: 1_795_000_200) }
        pin("org rollback", ["org", "rollback", "acme", "staging"])
        pin("org pull", ["org", "pull", "acme", "dev"])
        let importFile = cli.stateRoot + "/import.env"
        XCTAssertTrue(FileManager.default.createFile(atPath: importFile, contents: Data("CACHE_PORT=4100\n".utf8)))
        pin("ports import", ["ports", "import", importFile, "--dry-run"])
        pin("svc create", ["svc", "create", "cron", "--command", "sleep 100", "--org", "acme"])
        pin("svc start", ["svc", "start", "cron", "--dry-run", "--org", "acme"])
        pin("svc stop", ["svc", "stop", "--all", "--dry-run", "--org", "acme"])
        pin("svc restart", ["svc", "restart", "cron", "--dry-run", "--org", "acme"])
        pin("svc boot", ["svc", "boot", "--dry-run", "--org", "acme"])
        pin("svc remove", ["svc", "remove", "cron", "--yes", "--dry-run", "--org", "acme"])
        pin("svc status", ["svc", "status", "--org", "acme"])
        pin("dash", ["dash", "--org", "acme"])
        pin("svc logs", ["svc", "logs", "worker", "--org", "acme"])
        pin("template render", ["template", "render", "service/web", "--set", "name=api"])
        pin("org delete", ["org", "delete", "acme", "--yes"])
    }

    /// Runs commands of one `InProcess` and checks their documents against the goldens (the
    /// first run of a command is the one pinned). `values` are a test's own variable values
    /// (ports, commit ids) and the fixed placeholders that replace them.
    struct Pinner {
        var pinned: Set<String> = []

        @discardableResult
        mutating func pin(_ cli: InProcess, _ command: String, _ argv: [String], status: Int32 = 0, values: [String: String] = [:],
                          keeping: (String) -> String = { $0 }, file: StaticString = #filePath, line: UInt = #line) -> String {
            let r = cli.run(argv + ["--json"])
            XCTAssertEqual(r.status, status, "\(argv): \(r.stderr)", file: file, line: line)
            check(keeping(r.stdout), of: command, root: cli.stateRoot, values: values, file: file, line: line)
            return r.stdout
        }

        /// Checks a document already printed.
        mutating func check(_ stdout: String, of command: String, root: String, values: [String: String] = [:],
                            file: StaticString = #filePath, line: UInt = #line) {
            let doc = JSONContract.normalized(stdout, root: root, values: values)
            JSONContract.checkConvention(doc, command: command, file: file, line: line)
            if pinned.insert(command).inserted {
                Golden.check(doc, path: JSONContract.goldenPath(command), file: file, line: line)
            }
        }
    }

    /// The error document: `{"error": {code, kind, message, hint}}` (config errors add `problems`).
    func testErrorDocumentOfEveryKindMatchesItsGolden() {
        let errors: [any TetraError] = [
            UsageError("unknown flag '--colour'", suggestion: "--color"),
            ConfigError([ConfigProblem(file: "org.toml", position: SourcePosition(line: 3, column: 7), keyPath: "environments.prod.keep_releases",
                                                 message: "expected an integer, found a string")]),
            CoreError.notFound(what: "org", name: "acme", hint: "tetra org list shows the orgs"),
            CoreError.conflict("port 4000 is taken by 'api'"),
            CoreError.lockHeld(resource: "org acme", holder: "pid 42 on host1 (tetra org push)", hint: "wait, or --break-lock"),
            CoreError.refused("prod is protected", hint: "add --approve"),
            CoreError.failed("2 of 3 services failed"),
            CoreError.interrupted,
            IOError("write", path: "/srv/tetra/ports.toml", reason: "Permission denied", hint: "check the directory's owner"),
            ToolError.notInstalled(tool: "rsync", hint: "apt-get install rsync"),
            ToolError.timedOut(argv: ["ssh", "web1", "true"], seconds: 10),
            ToolError.failed(argv: ["git", "fetch", "origin"], status: 128, stderrTail: "fatal: could not read from remote repository"),
            SSLError.acme(context: "the new order", problem: ACMEProblem(type: "urn:ietf:params:acme:error:rateLimited", detail: "too many orders"), status: 429),
            SSLError.validationFailed(name: "a.example.com", problem: ACMEProblem(type: "urn:ietf:params:acme:error:connection", detail: "connection refused")),
            SSLError.unreachable(url: "https://acme.example/dir", reason: "connection refused", hint: "check --acme-server"),
            SSLError.keyMismatch("the key does not match the certificate"),
            SSLError.hookFailed(command: "systemctl reload nginx", status: 1, output: "Job failed"),
            DockerError.daemonUnreachable(host: "unix:///var/run/docker.sock", detail: ""),
            DockerError.permissionDenied(host: "unix:///var/run/docker.sock", detail: "connect: permission denied"),
            SecretError.noIdentity(file: "orgs/acme/secrets.env.age", tried: ["/home/ops/.config/tetra/identity.txt", "/home/ops/.ssh/id_ed25519"]),
            SecretError.cannotDecrypt(file: "orgs/acme/secrets.env.age", identity: "/home/ops/.ssh/id_ed25519",
                                      tried: ["/home/ops/.config/tetra/identity.txt", "/home/ops/.ssh/id_ed25519"],
                                      detail: "age: error: no identity matched any of the recipients"),
        ]
        var seen: Set<String> = []
        let page = (try? String(contentsOfFile: Golden.packageRoot + "/docs/json.md", encoding: .utf8)) ?? ""
        for error in errors where seen.insert(error.kind).inserted {
            XCTAssertTrue(page.contains("`\(error.kind)`"), "docs/json.md does not list the error kind '\(error.kind)'")
            let doc = JSONOutput.error(error) + "\n"
            JSONContract.checkConvention(doc, command: "error \(error.kind)")
            Golden.check(doc, path: Golden.directory + "/json/errors/\(error.kind).json")
        }
    }
}
