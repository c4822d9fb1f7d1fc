import FoundationEssentials
import Glibc
import TetraCore

/// `tetra quickstart` (the demo itself is `Quickstart` in the core): its spec and its text.
enum QuickstartCommand {
    static var spec: CommandSpec {
        CommandSpec("quickstart", summary: "A demo in a fresh state root: create an org, allocate ports, push dev, start a service, show status",
                    discussion: """
                    Uses a new temporary state root unless --dir names one (which must not hold an org
                    called 'demo' yet). Nothing outside that directory is touched: dev's target is
                    inside it. The demo service (python3 -m http.server on the allocated port, serving dev's
                    current release, with an HTTP health check) keeps running under its supervisor until
                    it is stopped: the clean-up printed at the end stops it first. Prints every step.
                    """,
                    examples: ["tetra quickstart", "tetra quickstart --dir /tmp/tetra-demo"], json: true,
                    handler: { _, env in try run(env) })
    }

    static func run(_ env: CommandEnvironment) throws -> CommandOutput {
        let result = try Quickstart(context: env.core).run(directory: env.options.dir)
        let root = result.state_root, target = result.target, cleanup = result.cleanup
        let orgName = result.org, ports = result.ports
        let q = ShellQuote.quote(root)
        var text = "tetra quickstart: done\n\n"
        for s in result.steps { text += "  \(s.step.rawValue): \(s.detail)\n" }
        text += "\nLook around (this demo's state root):\n"
        text += "  export TETRA_DIR=\(q) TETRA_ORG=\(orgName)\n"
        text += "  tetra org show \(orgName)\n"
        text += "  cat \(ShellQuote.quote(target))/current/app.env\n"
        text += "  tetra org status \(orgName)\n"
        text += "  tetra org set vars.replicas 2 && tetra org push \(orgName) dev --dry-run && tetra org push \(orgName) dev\n"
        text += "  tetra org rollback \(orgName) dev && tetra org history \(orgName) dev\n"
        if result.service != nil {
            text += "  tetra svc status web && tetra svc logs web -n 5 && curl -s http://127.0.0.1:\(ports["web"] ?? 0)/app.env\n"
        }
        text += "\nClean up:\n  \(cleanup)\n"
        return CommandOutput(json: result, text: text)
    }

}
