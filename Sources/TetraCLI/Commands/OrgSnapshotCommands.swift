import FoundationEssentials
import Glibc
import TetraCore

/// `org snapshot list | show | diff | restore`: the snapshots tetra keeps of an org's working
/// copy (before every push, promote, rollback, pull --write, set, delete and restore).
enum OrgSnapshotCommands {
    static var spec: CommandSpec {
        CommandSpec("snapshot", summary: "Snapshots of an org's working copy: list, show, diff, restore",
                    discussion: """
                    tetra snapshots the org's directory (org.toml, services/, files/; never
                    secrets.env) before every push, promote, rollback, pull --write, org set,
                    org delete and snapshot restore. Snapshots are content-addressed: an
                    unchanged working copy gives the same id again. An ID may be abbreviated to
                    an unambiguous prefix of at least 4 hex digits.
                    """,
                    subcommands: [list, show, diff, restore])
    }

    static let idArg = ArgSpec("ID", help: "a snapshot id (or an unambiguous prefix of at least 4 hex digits)",
                               completion: .dynamic(.snapshots))

    static func size(_ bytes: Int64?) -> String { bytes.map { SizeValue.format($0, binary: false) } ?? "-" }

    static var list: CommandSpec {
        CommandSpec("list", summary: "List an org's snapshots, newest first: id, time, why it was taken, files, size",
                    arguments: [OrgCommands.optionalOrgArg], examples: ["tetra org snapshot list acme"], json: true, handler: { inv, env in
            let name = try OrgCommands.orgName(inv, env)
            let r = try OrgCommands.service(env).snapshotList(org: name)
            let text = r.snapshots.isEmpty ? "no snapshots of \(name) yet; every push takes one\n"
                : env.table(["id", "created", "reason", "files", "size"], r.snapshots.map {
                    [$0.id, $0.created_at, $0.reason, String($0.file_count), $0.error.map { "error: \($0)" } ?? size($0.bytes)]
                })
            return CommandOutput(json: r, text: text)
        })
    }

    static var show: CommandSpec {
        CommandSpec("show", summary: "Show the files of a snapshot with their modes, sizes and sha256",
                    arguments: [idArg, OrgCommands.optionalOrgArg], examples: ["tetra org snapshot show 3f2a acme"], json: true,
                    handler: { inv, env in
            let r = try OrgCommands.service(env).snapshotShow(org: try OrgCommands.orgName(inv, env), id: inv.required("ID"))
            var text = "snapshot \(r.id) of \(r.org): \(OrgCommands.plural(r.file_count, "file")), \(size(r.bytes))\n"
            if !r.files.isEmpty {
                text += env.table(["mode", "size", "sha256", "path"], r.files.map { [$0.mode, size($0.bytes), $0.sha256, $0.path] })
            }
            return CommandOutput(json: r, text: text)
        })
    }

    static var diff: CommandSpec {
        CommandSpec("diff", summary: "Diff two snapshots, or a snapshot against the working copy (exit 0 same, 1 differences)",
                    discussion: """
                    With one ID, the snapshot is compared with the org's working copy. A second
                    argument of 4 to 16 hex digits is the other snapshot; any other second argument
                    is the org (so 'diff 3f2a acme' compares snapshot 3f2a of acme with its working
                    copy). Contents of files of mode 0600 are not shown.
                    """,
                    arguments: [idArg, ArgSpec("ID2", help: "the other snapshot (default: the working copy)", optional: true,
                                               completion: .dynamic(.snapshots)), OrgCommands.optionalOrgArg],
                    flags: [FlagSpec("stat", help: "file names only")],
                    examples: ["tetra org snapshot diff 3f2a acme", "tetra org snapshot diff 3f2a 9c1e acme --stat"],
                    json: true, handler: { inv, env in
            var second = inv.argument("ID2")
            var name: String
            if inv.argument("ORG") == nil, let s = second, !SnapshotStore.looksLikeID(s) {
                try Names.validate(s, what: "org")
                (name, second) = (s, nil)
            } else {
                name = try OrgCommands.orgName(inv, env)
            }
            let c = try OrgCommands.service(env).snapshotDiff(org: name, old: inv.required("ID"), new: second)
            return OrgCommands.diffOutput(c, stat: inv.has("stat"))
        })
    }

    static var restore: CommandSpec {
        CommandSpec("restore", summary: "Restore the org's working copy to a snapshot (snapshotting it first, so it can be undone)",
                    discussion: """
                    Everything a snapshot holds is restored: org.toml, services/ and files/;
                    secrets.env is never touched. The working copy is snapshotted first and that
                    snapshot's id printed: restore it to undo. Every object is checked against its
                    sha256 before any file is changed; each file is replaced atomically. An org
                    removed by 'org delete' is created again. Targets are not touched: push to deploy.
                    """,
                    arguments: [idArg, OrgCommands.optionalOrgArg],
                    examples: ["tetra org snapshot restore 3f2a acme", "tetra org snapshot restore 3f2a acme --dry-run"],
                    mutates: true, json: true, handler: { inv, env in
            let name = try OrgCommands.orgName(inv, env)
            if !env.options.dryRun { try env.ensureStateRoot() }
            let r = try OrgCommands.service(env).snapshotRestore(org: name, id: inv.required("ID"), dryRun: env.options.dryRun)
            var text = r.changes.isEmpty ? "\(name) already holds snapshot \(r.snapshot): nothing to change\n"
                : "\(r.dry_run ? "would restore" : "restored") \(name) to snapshot \(r.snapshot)"
                    + " (\(OrgCommands.plural(r.changes.count, "file")) changed)\n" + r.changes.lines.map { "  \($0)\n" }.joined()
            if let undo = r.undo_snapshot {
                text += "the working copy before was saved as snapshot \(undo); undo with: tetra org snapshot restore \(undo) \(name)\n"
            }
            return CommandOutput(json: r, text: text)
        })
    }
}
