import Foundation
import XCTest
@testable import TetraCLI
import TetraCore
import TetraTestSupport

final class CLIBehaviourTests: XCTestCase {
    func testVersionAndRootHelp() {
        let cli = InProcess()
        let v = cli.run(["--version"])
        XCTAssertEqual(v.status, 0)
        XCTAssertEqual(v.stdout, "tetra \(TetraVersion.string)\n")
        let h = cli.run([])
        XCTAssertEqual(h.status, 0)
        XCTAssertTrue(h.stdout.contains("Commands:"))
        XCTAssertFalse(h.stdout.contains("__complete"), "hidden commands stay out of help")
    }

    func testUnknownCommandIsOneErrorWithSuggestionAndExit2() {
        let r = InProcess().run(["doctr"])
        XCTAssertEqual(r.status, 2)
        XCTAssertEqual(r.stdout, "")
        let lines = r.stderr.split(separator: "\n")
        XCTAssertEqual(lines.first, "tetra: error: unknown command 'doctr' for 'tetra'")
        XCTAssertEqual(lines.count, 2)
        XCTAssertTrue(lines[1].hasPrefix("  hint: did you mean 'doctor'?"), String(lines[1]))
    }

    func testUnknownFlagAndMissingValue() {
        let r = InProcess().run(["audit", "--sinse", "7d"])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("unknown flag --sinse"))
        XCTAssertTrue(r.stderr.contains("did you mean '--since'?"))
        XCTAssertTrue(r.stderr.contains("usage: tetra audit [flags]"))
        let m = InProcess().run(["audit", "--since"])
        XCTAssertEqual(m.status, 2)
        XCTAssertTrue(m.stderr.hasPrefix("tetra: error: flag --since needs a value"))
    }

    func testErrorsAreJSONOnStderrUnderJSON() throws {
        let r = InProcess().run(["doctr", "--json"])
        XCTAssertEqual(r.status, 2)
        XCTAssertEqual(r.stdout, "")
        let object = try JSONSerialization.jsonObject(with: Data(r.stderr.utf8)) as? [String: Any]
        let error = object?["error"] as? [String: Any]
        XCTAssertEqual(error?["code"] as? Int, 2)
        XCTAssertEqual(error?["kind"] as? String, "usage")
        XCTAssertEqual(error?["message"] as? String, "unknown command 'doctr' for 'tetra'")
    }

    func testJSONRefusedByCommandsWithoutJSONOutput() {
        let r = InProcess().run(["completion", "bash", "--json"])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("does not support --json"))
        XCTAssertEqual(r.stdout, "")
    }

    func testInitCreatesStateRootWith0700AndIsIdempotent() throws {
        let cli = InProcess()
        let first = cli.run(["init"])
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertTrue(first.stdout.contains("created state root"))
        for dir in ["", "/config", "/orgs", "/ssl", "/state", "/state/locks"] {
            var st = stat()
            XCTAssertEqual(stat(cli.stateRoot + dir, &st), 0, dir)
            XCTAssertEqual(st.st_mode & 0o777, 0o700, dir)
        }
        let config = try String(contentsOfFile: cli.stateRoot + "/config/tetra.toml", encoding: .utf8)
        XCTAssertTrue(config.contains("default_org"))
        let second = cli.run(["init", "--json"])
        XCTAssertEqual(second.status, 0)
        let object = try JSONSerialization.jsonObject(with: Data(second.stdout.utf8)) as? [String: Any]
        XCTAssertEqual(object?["created"] as? Bool, false)
        XCTAssertEqual(object?["state_root"] as? String, cli.stateRoot)
    }

    func testInitDryRunCreatesNothing() {
        let cli = InProcess()
        let r = cli.run(["init", "--dry-run"])
        XCTAssertEqual(r.status, 0)
        XCTAssertTrue(r.stdout.contains("would create"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: cli.stateRoot))
    }

    func testDirPointingAtAFileIsUsageErrorAndCreatesNothing() throws {
        let cli = InProcess()
        let file = (cli.stateRoot as NSString).deletingLastPathComponent + "/plain-file"
        try "x".write(toFile: file, atomically: true, encoding: .utf8)
        let r = cli.run(["init", "--dir", file])
        XCTAssertEqual(r.status, 2)
        XCTAssertEqual(r.stderr.split(separator: "\n").first, "tetra: error: state root \(file) is not a directory")
        XCTAssertEqual(try String(contentsOfFile: file, encoding: .utf8), "x")
        let nested = cli.run(["init", "--dir", file + "/sub/root"])
        XCTAssertEqual(nested.status, 2)
        XCTAssertTrue(nested.stderr.contains("is not a directory"))
    }

    func testAuditRecordsMutatingCommandsOnly() throws {
        let cli = InProcess()
        XCTAssertEqual(cli.run(["init"]).status, 0)
        XCTAssertEqual(cli.run(["init", "--dry-run"]).status, 0)
        XCTAssertEqual(cli.run(["doctor"]).status != 2, true)
        let r = cli.run(["audit", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        let entries = object?["entries"] as? [[String: Any]] ?? []
        XCTAssertEqual(entries.count, 1, "only the real init is audited: \(entries)")
        XCTAssertEqual(entries.first?["command"] as? String, "init")
        XCTAssertEqual(entries.first?["result"] as? String, "ok")
        XCTAssertEqual(entries.first?["user"] as? String, "tester")
        let human = cli.run(["audit"])
        XCTAssertTrue(human.stdout.hasPrefix("TIME"), human.stdout)
        XCTAssertTrue(human.stdout.contains("init"))
        let since = cli.run(["audit", "--since", "1s", "--json"])
        XCTAssertEqual(since.status, 0)
    }

    func testDoctorReportsMissingRequiredToolsAsProblems() throws {
        let cli = InProcess(runner: FakeProcessRunner())
        XCTAssertEqual(cli.run(["init"]).status, 0)
        let r = cli.run(["doctor", "--json"])
        XCTAssertEqual(r.status, 1)
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        let checks = object?["checks"] as? [[String: Any]] ?? []
        let git = checks.first { $0["name"] as? String == "tool git" }
        XCTAssertEqual(git?["status"] as? String, "problem")
        let docker = checks.first { $0["name"] as? String == "tool docker" }
        XCTAssertEqual(docker?["status"] as? String, "warning")
        let mode = checks.first { $0["name"] as? String == "state root mode" }
        XCTAssertEqual(mode?["status"] as? String, "ok")
    }

    func testCompleteOffersCommandsFlagsAndChoices() {
        let cli = InProcess()
        XCTAssertEqual(cli.run(["__complete", "do"]).stdout, "doctor\n")
        XCTAssertEqual(cli.run(["__complete", "audit", "--si"]).stdout, "--since\n")
        XCTAssertEqual(cli.run(["__complete", "--color", ""]).stdout, "auto\nalways\nnever\n")
        XCTAssertEqual(cli.run(["__complete", "completion", "z"]).stdout, "zsh\n")
        XCTAssertEqual(cli.run(["__complete", "help", "comp"]).stdout, "completion\n")
        XCTAssertEqual(cli.run(["__complete", "--dir", ""]).stdout, ":directory\n")
        // Dynamic names for groups that have nothing yet: empty, never an error.
        let none = cli.run(["__complete", "--org", ""])
        XCTAssertEqual(none.status, 0)
        XCTAssertEqual(none.stdout, "")
    }

    func testCompleteNamesOrgsFromTheStateRoot() throws {
        let cli = InProcess()
        try FileManager.default.createDirectory(atPath: cli.stateRoot + "/orgs/acme", withIntermediateDirectories: true)
        try "[org]\nname = \"acme\"\n".write(toFile: cli.stateRoot + "/orgs/acme/org.toml", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: cli.stateRoot + "/orgs/not-an-org", withIntermediateDirectories: true)
        XCTAssertEqual(cli.run(["__complete", "--org", "a"]).stdout, "acme\n")
        XCTAssertEqual(cli.run(["__complete", "--org", ""]).stdout, "acme\n")
    }

    func testTablesAreCutToTheTerminalWidthOnlyOnATerminal() {
        let rows = [["api", String(repeating: "x", count: 80)]]
        let piped = TableRenderer(headers: ["name", "detail"], rows: rows).render(width: nil)
        XCTAssertTrue(piped.contains(String(repeating: "x", count: 80)))
        let term = TableRenderer(headers: ["name", "detail"], rows: rows).render(width: 40)
        for line in term.split(separator: "\n") { XCTAssertLessThanOrEqual(line.count, 40) }
        XCTAssertTrue(term.contains("…"))
    }

    func testColourOnlyOnTerminalWithoutNoColor() {
        XCTAssertFalse(CLI.colorEnabled(flag: "auto", isTerminal: false, env: [:]))
        XCTAssertTrue(CLI.colorEnabled(flag: "auto", isTerminal: true, env: [:]))
        XCTAssertFalse(CLI.colorEnabled(flag: "auto", isTerminal: true, env: ["NO_COLOR": "1"]))
        XCTAssertTrue(CLI.colorEnabled(flag: "always", isTerminal: false, env: ["NO_COLOR": "1"]))
        XCTAssertFalse(CLI.colorEnabled(flag: "never", isTerminal: true, env: [:]))
    }

    func testConfirmRefusesWithoutTerminalAndAsksOnOne() throws {
        var cli = InProcess()
        let inv = try { () throws -> Invocation in
            guard case .run(let i) = try ArgumentParser(root: CommandTable.root).parse(["doctor"]) else { throw CoreError.failed("") }
            return i
        }()
        func env(_ cli: InProcess, answers: [String], yes: Bool) throws -> CommandEnvironment {
            let box = AnswerBox(answers)
            let ctx = CLIContext(stdout: OutputSink(), stderr: OutputSink(), readLine: { box.next() },
                                 environment: cli.environment, workingDirectory: "/", stdinIsTerminal: cli.stdinIsTerminal,
                                 stderrIsTerminal: cli.stderrIsTerminal, runner: cli.runner)
            var options = try GlobalOptions(inv)
            options.yes = yes
            let core = CoreContext(environment: [:], workingDirectory: "/", stateRoot: cli.stateRoot, runner: cli.runner)
            return CommandEnvironment(cli: ctx, options: options, core: core, style: Style(enabled: false), invocation: inv)
        }
        XCTAssertThrowsError(try env(cli, answers: ["y"], yes: false).confirm("delete org acme")) { error in
            XCTAssertEqual((error as? CoreError)?.exitCode, .refused)
            XCTAssertTrue((error as? CoreError)?.hint?.contains("--yes") ?? false)
        }
        XCTAssertNoThrow(try env(cli, answers: [], yes: true).confirm("delete org acme"))
        cli.stdinIsTerminal = true
        cli.stderrIsTerminal = true
        XCTAssertNoThrow(try env(cli, answers: ["y"], yes: false).confirm("delete org acme"))
        XCTAssertThrowsError(try env(cli, answers: ["n"], yes: false).confirm("delete org acme"))
    }
}

final class SettingsAndDoctorTests: XCTestCase {
    func testOrgPrecedenceFlagThenEnvironmentThenConfigFile() throws {
        var cli = InProcess()
        XCTAssertEqual(cli.run(["init"]).status, 0)
        try "default_org = \"fromfile\"\n".write(toFile: cli.stateRoot + "/config/tetra.toml", atomically: true, encoding: .utf8)
        func resolved(_ argv: [String]) throws -> String? {
            guard case .run(let inv) = try ArgumentParser(root: CommandTable.root).parse(argv) else { return nil }
            let ctx = CLIContext(stdout: OutputSink(), stderr: OutputSink(), environment: cli.environment,
                                 workingDirectory: "/", runner: cli.runner)
            let core = CoreContext(environment: cli.environment, workingDirectory: "/", stateRoot: cli.stateRoot, runner: cli.runner)
            let env = CommandEnvironment(cli: ctx, options: try GlobalOptions(inv), core: core, style: Style(enabled: false), invocation: inv)
            return try env.resolvedOrg()
        }
        XCTAssertEqual(try resolved(["doctor"]), "fromfile")
        cli.environment["TETRA_ORG"] = "fromenv"
        XCTAssertEqual(try resolved(["doctor"]), "fromenv")
        XCTAssertEqual(try resolved(["doctor", "--org", "fromflag"]), "fromflag")
        XCTAssertThrowsError(try resolved(["doctor", "--org", "../x"]))
        cli.environment.removeValue(forKey: "TETRA_ORG")
        try "default_org = 3\n".write(toFile: cli.stateRoot + "/config/tetra.toml", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try resolved(["doctor"])) { error in
            XCTAssertEqual((error as? ConfigError)?.exitCode, .invalidConfig)
            XCTAssertTrue((error as? ConfigError)?.message.contains("tetra.toml:1:15") ?? false, "\(error)")
        }
    }

    func testDoctorReportsConfigAndPortProblems() throws {
        let cli = InProcess(runner: FakeProcessRunner())
        XCTAssertEqual(cli.run(["init"]).status, 0)
        try "default_org = [\n".write(toFile: cli.stateRoot + "/config/tetra.toml", atomically: true, encoding: .utf8)
        try "[ports]\na = 4000\nb = 4000\n".write(toFile: cli.stateRoot + "/config/ports.toml", atomically: true, encoding: .utf8)
        let r = cli.run(["doctor"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stdout.contains("config tetra.toml"), r.stdout)
        XCTAssertTrue(r.stdout.contains("ports duplicate"), r.stdout)
    }
}
