import Foundation
import XCTest

/// The completion scripts in completions/ exercised in real shells against the built binary.
final class CompletionShellTests: XCTestCase {
    var binDir: String { (Tetra.binary as NSString).deletingLastPathComponent }
    var scripts: String { Tetra.packageRoot + "/completions" }

    /// A state root with one org, for dynamic names.
    func stateWithOrg() throws -> Tetra {
        let t = Tetra()
        XCTAssertEqual(try t.run(["init"]).status, 0)
        try FileManager.default.createDirectory(atPath: t.stateRoot + "/orgs/acme", withIntermediateDirectories: true)
        try "[org]\nname = \"acme\"\n".write(toFile: t.stateRoot + "/orgs/acme/org.toml", atomically: true, encoding: .utf8)
        return t
    }

    // MARK: bash

    func bashComplete(_ words: [String], _ t: Tetra) throws -> [String] {
        let bash = try requireTool("bash")
        let bashCompletion = "/usr/share/bash-completion/bash_completion"
        guard FileManager.default.fileExists(atPath: bashCompletion) else {
            if ProcessInfo.processInfo.environment["CI"] != nil { XCTFail("bash-completion missing in CI") }
            print("\n*** SKIPPED: bash-completion is not installed ***\n")
            throw XCTSkip("bash-completion is not installed")
        }
        let quoted = words.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        let script = """
            source \(bashCompletion)
            source '\(scripts)/tetra.bash'
            complete -p tetra >/dev/null || { echo 'not registered' >&2; exit 3; }
            COMP_WORDS=(\(quoted))
            COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
            COMP_LINE="${COMP_WORDS[*]}"
            COMP_POINT=${#COMP_LINE}
            _tetra
            printf '%s\\n' "${COMPREPLY[@]}"
            """
        var env = t.environment
        env["PATH"] = binDir + ":" + (env["PATH"] ?? "/usr/bin:/bin")
        let r = try Tetra.exec(bash, ["--norc", "--noprofile", "-c", script], env: env, cwd: t.stateRoot)
        XCTAssertEqual(r.status, 0, r.stderr)
        return r.stdout.split(separator: "\n").map(String.init).filter { !$0.isEmpty }.sorted()
    }

    func testBashCompletesCommandsFlagsChoicesAndDynamicNames() throws {
        let t = try stateWithOrg()
        XCTAssertEqual(try bashComplete(["tetra", "comp"], t), ["completion"])
        XCTAssertEqual(try bashComplete(["tetra", "completion", ""], t), ["bash", "fish", "zsh"])
        XCTAssertEqual(try bashComplete(["tetra", "audit", "--si"], t), ["--since"])
        XCTAssertEqual(try bashComplete(["tetra", "--color", "n"], t), ["never"])
        XCTAssertEqual(try bashComplete(["tetra", "--org", ""], t), ["acme"], "dynamic names come from tetra __complete")
        XCTAssertEqual(try bashComplete(["tetra", "--org", "acme", "doc"], t), ["doctor"], "a flag value is skipped when walking")
        XCTAssertEqual(try bashComplete(["tetra", "help", "com"], t), ["completion"])
        XCTAssertTrue(try bashComplete(["tetra", ""], t).contains("doctor"))
        XCTAssertFalse(try bashComplete(["tetra", ""], t).contains("__complete"))
    }

    // MARK: zsh, driven interactively in tmux

    func testZshCompletesInAnInteractiveShell() throws {
        let zsh = try requireTool("zsh")
        let tmux = try requireTool("tmux")
        let t = try stateWithOrg()
        let session = "tetra-zsh-\(getpid())"
        let home = Tetra.makeTempDir("tetra-zsh-home")
        try """
            autoload -Uz compinit && compinit -u -d \(home)/.zcompdump
            source '\(scripts)/_tetra'
            PROMPT='> '
            """.write(toFile: home + "/.zshrc", atomically: true, encoding: .utf8)
        var env = t.environment
        env["PATH"] = binDir + ":" + (env["PATH"] ?? "/usr/bin:/bin")
        env["ZDOTDIR"] = home
        env["TERM"] = "xterm"
        env.removeValue(forKey: "TMUX")
        func tm(_ args: [String]) throws -> Tetra.Result {
            try Tetra.exec(tmux, ["-L", session] + args, env: env)
        }
        // The tmux server daemonizes and keeps inherited descriptors open, so nothing waits
        // for this client: it is started with no pipes, and readiness is polled instead.
        let start = Process()
        start.executableURL = URL(fileURLWithPath: tmux)
        start.arguments = ["-L", session, "new-session", "-d", "-s", session, "-x", "200", "-y", "40", zsh, "-i"]
        start.environment = env
        start.standardInput = FileHandle.nullDevice
        start.standardOutput = FileHandle.nullDevice
        start.standardError = FileHandle.nullDevice
        try start.run()
        let ready = Date().addingTimeInterval(10)
        while (try? tm(["has-session", "-t", session]))?.status != 0, Date() < ready { usleep(100_000) }
        defer { _ = try? tm(["kill-server"]) }

        func screen() throws -> String { try tm(["capture-pane", "-p", "-t", session]).stdout }
        func waitFor(_ text: String, file: StaticString = #filePath, line: UInt = #line) throws {
            let deadline = Date().addingTimeInterval(10)
            while Date() < deadline {
                if try screen().contains(text) { return }
                usleep(100_000)
            }
            XCTFail("zsh screen never showed '\(text)':\n\(try screen())", file: file, line: line)
        }
        // capture-pane trims trailing blanks: match lines without them.
        try waitFor(">")
        _ = try tm(["send-keys", "-t", session, "tetra comp", "Tab"])
        try waitFor("> tetra completion\n")
        _ = try tm(["send-keys", "-t", session, "C-u", "tetra completion z", "Tab"])
        try waitFor("> tetra completion zsh")
        _ = try tm(["send-keys", "-t", session, "C-u", "tetra --org a", "Tab"])
        try waitFor("> tetra --org acme")
        _ = try tm(["send-keys", "-t", session, "C-u", "tetra audit --si", "Tab"])
        try waitFor("> tetra audit --since")
    }

    // MARK: fish, through its own `complete -C`

    func testFishCompletes() throws {
        let fish = try requireTool("fish")
        let t = try stateWithOrg()
        var env = t.environment
        env["PATH"] = binDir + ":" + (env["PATH"] ?? "/usr/bin:/bin")
        env["XDG_CONFIG_HOME"] = Tetra.makeTempDir("tetra-fish")
        func complete(_ line: String) throws -> [String] {
            let r = try Tetra.exec(fish, ["--no-config", "-c", "source '\(scripts)/tetra.fish'; complete -C '\(line)'"], env: env)
            XCTAssertEqual(r.status, 0, r.stderr)
            return r.stdout.split(separator: "\n").map { String($0.split(separator: "\t").first ?? "") }
        }
        XCTAssertEqual(try complete("tetra comp"), ["completion"])
        XCTAssertEqual(try complete("tetra completion ").sorted(), ["bash", "fish", "zsh"])
        XCTAssertEqual(try complete("tetra --org a"), ["acme"])
        XCTAssertEqual(try complete("tetra audit --si"), ["--since"])
    }
}
