import FoundationEssentials
import TetraCore

/// `tetra __host ...`: what a push runs on a host (over ssh, or here for a local target).
/// Hidden: not for people; its JSON document is read by the pushing tetra.
enum HostCommands {
    static var spec: CommandSpec {
        CommandSpec("__host", summary: "The host side of a push (internal)", hidden: true, subcommands: [activate])
    }

    static var activate: CommandSpec {
        CommandSpec("activate", summary: "Restart, reload or start the services of TARGET's current release and wait for them (internal)",
                    arguments: [ArgSpec("TARGET", help: "the target directory (absolute)", completion: .directory)],
                    flags: [FlagSpec("org", value: .string, placeholder: "ORG", help: "the org whose services these are"),
                            FlagSpec("timeout", value: .duration, placeholder: "DURATION", default: "60s",
                                     help: "how long to wait for the services to be healthy")],
                    mutates: true, json: true, hidden: true, handler: { inv, env in
            let target = try inv.required("TARGET")
            guard target.hasPrefix("/") else { throw CoreError.invalidArgument("TARGET must be an absolute path") }
            guard let org = inv.flag("org") else { throw CoreError.invalidArgument("--org is required") }
            env.core.interrupt.unwindsGracefully = true
            let result = try HostAgent(core: env.core, target: PathText.standardized(target), org: org)
                .activate(timeout: try inv.duration("timeout") ?? 60)
            var text = ""
            for s in result.services {
                text += "\(s.name): \(s.action.rawValue)" + (s.state.map { ", \($0)" } ?? "") + (s.health.map { ", health \($0)" } ?? "")
                    + (s.error.map { ": " + $0 } ?? "") + "\n"
            }
            return CommandOutput(exitCode: result.healthy ? .success : .failure, json: result, text: text)
        })
    }
}
