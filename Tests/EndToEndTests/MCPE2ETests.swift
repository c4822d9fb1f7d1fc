import Foundation
import XCTest

/// `tetra mcp` driven by the REAL official MCP client: PyPI `mcp` (ClientSession over
/// stdio_client) in a venv that scripts/test.sh makes (.build/mcp-venv, or $TETRA_MCP_PYTHON),
/// through scripts/mcp-client.py. Raw protocol tests feed bytes to the binary directly.
final class MCPE2ETests: XCTestCase {
    var tetra: Tetra!
    var work = ""
    var secret = ""

    static var python: String {
        if let p = ProcessInfo.processInfo.environment["TETRA_MCP_PYTHON"], !p.isEmpty { return p }
        return Tetra.packageRoot + "/.build/mcp-venv/bin/python"
    }

    override func setUpWithError() throws {
        tetra = Tetra()
        work = Tetra.makeTempDir("tetra-mcp-e2e")
        XCTAssertEqual(try tetra.run(["init"]).status, 0)
        XCTAssertEqual(try tetra.run(["ports", "set", "web", "8080"]).status, 0)
        XCTAssertEqual(try tetra.run(["org", "create", "acme"]).status, 0)
        XCTAssertEqual(try tetra.run(["org", "set", "environments.dev.target", "\"\(work)/dev\"", "--org", "acme"]).status, 0)
        secret = "s3cr3t-" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
        let secretsFile = tetra.stateRoot + "/orgs/acme/secrets.env"
        try "API_TOKEN=\"\(secret)\"\n".write(toFile: secretsFile, atomically: true, encoding: .utf8)
        chmod(secretsFile, 0o600)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: tetra.stateRoot)
        try? FileManager.default.removeItem(atPath: work)
    }

    /// The venv's python with the SDK: skip loudly without it, fail under CI.
    func requireClient() throws -> String {
        let python = Self.python
        if FileManager.default.isExecutableFile(atPath: python),
           (try? Tetra.exec(python, ["-c", "import mcp.client.stdio"]).status) == 0 {
            return python
        }
        let message = "SKIPPED: no python with PyPI mcp at \(python) (scripts/test.sh makes .build/mcp-venv with pip install mcp)"
        if ProcessInfo.processInfo.environment["CI"] != nil { XCTFail("the MCP client is missing in CI: \(message)") }
        print("\n*** \(message) ***\n")
        throw XCTSkip(message)
    }

    /// Runs one client session against `tetra mcp SERVER_ARGS` following `plan`.
    func session(_ serverArgs: [String] = [], _ plan: [String: Any]) throws -> [String: Any] {
        let python = try requireClient()
        let input = String(decoding: try JSONSerialization.data(withJSONObject: plan), as: UTF8.self)
        let r = try Tetra.exec(python, [Tetra.packageRoot + "/scripts/mcp-client.py", Tetra.binary] + serverArgs,
                               stdin: input, env: tetra.environment)
        XCTAssertEqual(r.status, 0, "client failed: \(r.stderr.suffix(3000))")
        let last = r.stdout.split(separator: "\n").last.map(String.init) ?? ""
        guard let doc = try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any] else {
            XCTFail("no result from the client: \(r.stdout) \(r.stderr.suffix(2000))")
            return [:]
        }
        return doc
    }

    func steps(_ doc: [String: Any]) -> [[String: Any]] { doc["steps"] as? [[String: Any]] ?? [] }

    func toolNames(_ step: [String: Any]) -> [String] {
        (step["tools"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
    }

    /// The read-only commands with --json, from the generated command reference.
    func readCommandsFromReference() throws -> [String] {
        let text = try String(contentsOfFile: Tetra.packageRoot + "/docs/commands.md", encoding: .utf8)
        let lines = text.components(separatedBy: "\n")
        var names: [String] = []
        for (i, line) in lines.enumerated() where line.hasPrefix("#### `tetra ") {
            let words = line.dropFirst("#### `tetra ".count).split(separator: " ")
            let path = words.prefix { $0.first.map { $0.isLowercase } ?? false }.map { String($0).replacingOccurrences(of: "`", with: "") }
            let body = lines[(i + 1)...].prefix(3).joined(separator: " ")
            guard body.contains("`--json`"), !body.contains("mutating (lock"), path != ["quickstart"], path != ["mcp"] else { continue }
            names.append(path.joined(separator: "_"))
        }
        return names
    }

    // MARK: - listing and permissions

    func testReadOnlyServerListsEveryReadCommandAndNoMutatingOne() throws {
        let doc = try session([], ["steps": [["list": true], ["ping": true], ["call": "ports_list"],
                                             ["call": "ports_set", "args": ["name": "api", "port": "9100"]]]])
        XCTAssertEqual(doc["server"] as? String, "tetra")
        XCTAssertEqual(doc["protocol_version"] as? String, "2025-11-25")
        let s = steps(doc)
        guard s.count == 4 else { return XCTFail("\(doc)") }
        let listed = toolNames(s[0])
        let expected = try readCommandsFromReference()
        XCTAssertGreaterThan(expected.count, 30)
        XCTAssertEqual(Set(listed), Set(expected), "listed \(listed)")
        for tool in s[0]["tools"] as? [[String: Any]] ?? [] {
            let annotations = tool["annotations"] as? [String: Any] ?? [:]
            XCTAssertEqual(annotations["readOnlyHint"] as? Bool, true, "\(tool)")
        }
        for mutating in ["ports_set", "org_push", "volume_delete", "svc_start", "org_delete"] {
            XCTAssertFalse(listed.contains(mutating), mutating)
        }
        let ports = s[2]["structured"] as? [String: Any]
        XCTAssertEqual((ports?["ports"] as? [[String: Any]])?.first?["name"] as? String, "web")
        XCTAssertEqual(s[3]["isError"] as? Bool, true)
        XCTAssertEqual((s[3]["structured"] as? [String: Any])?["code"] as? Int, 7)
        XCTAssertEqual(try tetra.run(["ports", "get", "api"]).status, 4, "a refused call changed nothing")
    }

    func testAllowWriteListsAndRunsAMutatingToolTheCLISees() throws {
        let doc = try session(["--allow-write"], ["steps": [["list": true],
                                                          ["call": "ports_set", "args": ["name": "api", "port": 9100]]]])
        let s = steps(doc)
        guard s.count == 2 else { return XCTFail("\(doc)") }
        let tools = s[0]["tools"] as? [[String: Any]] ?? []
        let listed = toolNames(s[0])
        XCTAssertTrue(listed.contains("ports_set"))
        XCTAssertFalse(listed.contains("volume_delete"), "destructive tools need --allow-destructive")
        XCTAssertFalse(listed.contains("org_push"))
        let set = tools.first { $0["name"] as? String == "ports_set" }
        let annotations = set?["annotations"] as? [String: Any] ?? [:]
        XCTAssertEqual(annotations["readOnlyHint"] as? Bool, false)
        XCTAssertEqual(annotations["destructiveHint"] as? Bool, false)
        let schema = set?["schema"] as? [String: Any] ?? [:]
        let properties = schema["properties"] as? [String: Any] ?? [:]
        XCTAssertNil(properties["yes"])
        XCTAssertNil(properties["approve"])
        XCTAssertEqual(schema["required"] as? [String], ["name", "port"])
        XCTAssertEqual(s[1]["isError"] as? Bool, false, "\(s[1])")
        XCTAssertEqual(try tetra.run(["ports", "get", "api"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines), "9100")
        let audit = try String(contentsOfFile: tetra.stateRoot + "/state/audit.jsonl", encoding: .utf8)
        let line = audit.split(separator: "\n").last { $0.contains("\"command\":\"ports set\"") && $0.contains("\"via\":\"mcp\"") }
        XCTAssertNotNil(line, audit)
        XCTAssertTrue(line?.contains("\"result\":\"ok\"") ?? false)
    }

    func testTheSDKsDefaultClientFallsBackToTheHandshakeAndConfirms() throws {
        // Client (mode "auto") first sends server/discover (2026-07-28): -32601 here, so it
        // falls back to initialize.
        XCTAssertEqual(try tetra.run(["org", "create", "gone"]).status, 0)
        let doc = try session(["--allow-write", "--allow-destructive"], [
            "client": "auto", "elicit": "accept:gone",
            "steps": [["list": true], ["call": "ports_get", "args": ["name": "web"]], ["call": "org_delete", "args": ["org": "gone"]]]])
        XCTAssertEqual(doc["protocol_version"] as? String, "2025-11-25")
        let s = steps(doc)
        guard s.count == 3 else { return XCTFail("\(doc)") }
        XCTAssertTrue(toolNames(s[0]).contains("org_delete"))
        XCTAssertEqual((s[1]["structured"] as? [String: Any])?["port"] as? Int, 8080)
        XCTAssertEqual(s[2]["isError"] as? Bool, false, "\(s[2])")
        XCTAssertEqual((s[2]["asked"] as? [[String: Any]])?.count, 1)
        XCTAssertEqual(try tetra.run(["org", "show", "gone"]).status, 4, "deleted after the confirmation")
    }

    // MARK: - destructive calls

    func testDestructiveVolumeDeleteNeedsTheTypedName() throws {
        _ = try requireClient()
        let docker = try requireTool("docker")
        let info = try Tetra.exec(docker, ["info", "--format", "{{.ServerVersion}}"])
        if info.status != 0 {
            let message = "SKIPPED: no Docker engine answers (scripts/test.sh starts one as root)"
            if ProcessInfo.processInfo.environment["CI"] != nil { XCTFail(message) }
            print("\n*** \(message) ***\n")
            throw XCTSkip(message)
        }
        let volume = "tetra-test-mcp-" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
        defer { _ = try? Tetra.exec(docker, ["volume", "rm", "-f", volume]) }
        XCTAssertEqual(try tetra.run(["volume", "create", volume, "--org", "acme"]).status, 0)
        func exists() throws -> Bool { try Tetra.exec(docker, ["volume", "inspect", volume]).status == 0 }
        let call: [String: Any] = ["call": "volume_delete", "args": ["name": volume, "org": "acme"]]
        let server = ["--allow-write", "--allow-destructive"]

        for (elicit, expectedText) in [(nil, "no elicitation capability"), ("decline", "declined"), ("cancel", "cancelled"),
                                       ("accept:\(volume)x", "is not '\(volume)'")] as [(String?, String)] {
            var plan: [String: Any] = ["steps": [call]]
            if let elicit { plan["elicit"] = elicit }
            let s = steps(try session(server, plan))
            XCTAssertEqual(s.first?["isError"] as? Bool, true, "\(elicit ?? "none"): \(s)")
            let structured = s.first?["structured"] as? [String: Any] ?? [:]
            XCTAssertEqual(structured["code"] as? Int, 7)
            XCTAssertTrue((structured["message"] as? String ?? "").contains(expectedText), "\(structured)")
            XCTAssertTrue(try exists(), "the volume survives \(elicit ?? "a client without elicitation")")
            if elicit != nil {
                let asked = s.first?["asked"] as? [[String: Any]] ?? []
                XCTAssertEqual(asked.count, 1)
                XCTAssertTrue((asked.first?["message"] as? String ?? "").contains(volume))
            }
        }
        // A confirmation through an argument is not possible.
        let forged = steps(try session(server, ["elicit": "decline",
                                                "steps": [["call": "volume_delete", "args": ["name": volume, "org": "acme", "yes": true]]]]))
        XCTAssertEqual((forged.first?["structured"] as? [String: Any])?["code"] as? Int, 2)
        XCTAssertTrue(try exists())

        let ok = steps(try session(server, ["elicit": "accept:\(volume)", "steps": [call]]))
        XCTAssertEqual(ok.first?["isError"] as? Bool, false, "\(ok)")
        XCTAssertFalse(try exists(), "deleted once the right name was typed")
        let audit = try String(contentsOfFile: tetra.stateRoot + "/state/audit.jsonl", encoding: .utf8)
        let lines = audit.split(separator: "\n").filter { $0.contains("\"command\":\"volume delete\"") && $0.contains("\"via\":\"mcp\"") }
        XCTAssertEqual(lines.count, 6, audit)
        XCTAssertEqual(lines.filter { $0.contains("\"exit_code\":7") }.count, 4)
        XCTAssertTrue(lines.last?.contains("\"result\":\"ok\"") ?? false)
    }

    func testPushIsConfirmedByTheEnvNameAndReportsProgress() throws {
        XCTAssertEqual(try tetra.run(["ports", "allocate", "acme-web", "--range", "development"]).status, 0)
        let server = ["--allow-write", "--allow-destructive"]
        let push: [String: Any] = ["call": "org_push", "args": ["org": "acme", "env": "dev"], "progress": true]
        let wrong = steps(try session(server, ["elicit": "accept:prod", "steps": [push]]))
        XCTAssertEqual(wrong.first?["isError"] as? Bool, true, "\(wrong)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: work + "/dev/current"))
        let dry = steps(try session(server, ["steps": [["call": "org_push", "args": ["org": "acme", "env": "dev", "dry_run": true]]]]))
        XCTAssertEqual(dry.first?["isError"] as? Bool, false, "a dry run needs no confirmation: \(dry)")
        XCTAssertEqual((dry.first?["structured"] as? [String: Any])?["dry_run"] as? Bool, true)

        let s = steps(try session(server, ["elicit": "accept:dev", "steps": [push]]))
        XCTAssertEqual(s.first?["isError"] as? Bool, false, "\(s)")
        XCTAssertEqual((s.first?["structured"] as? [String: Any])?["env"] as? String, "dev")
        let progress = s.first?["progress"] as? [[String: Any]] ?? []
        XCTAssertGreaterThanOrEqual(progress.count, 2, "\(s)")
        let values = progress.compactMap { $0["progress"] as? Double }
        XCTAssertEqual(values, values.sorted(), "progress increases")
        XCTAssertTrue(FileManager.default.fileExists(atPath: work + "/dev/current"))
        XCTAssertTrue(try tetra.run(["org", "status", "acme", "dev"]).stdout.contains("dev"))
    }

    // MARK: - secrets

    func testASecretNeverAppearsInAnyByteTheServerWrote() throws {
        let capture = Tetra.makeTempDir("tetra-mcp-capture")
        defer { try? FileManager.default.removeItem(atPath: capture) }
        let secretsFile = tetra.stateRoot + "/orgs/acme/secrets.env"
        let doc = try session(["--allow-write"], ["capture": capture, "steps": [
            ["call": "config_get", "args": ["file": secretsFile, "key_path": "API_TOKEN"]],
            ["call": "org_show", "args": ["org": "acme"]],
            ["call": "env_show", "args": ["env": "dev", "org": "acme"]],
            ["call": "org_validate", "args": ["org": "acme"]],
            ["call": "config_set", "args": ["file": secretsFile, "key_path": "OTHER", "value": "\"\(secret)\""]],
            ["call": "template_render", "args": ["name": "nope"]],
        ]])
        let s = steps(doc)
        XCTAssertEqual(s.count, 6)
        // config get of the secrets file answers, masked: the redaction is what keeps it out.
        XCTAssertEqual((s.first?["structured"] as? [String: Any])?["value"] as? String, "***", "\(s.first ?? [:])")
        let written = try String(contentsOfFile: capture + "/stdout", encoding: .utf8)
            + ((try? String(contentsOfFile: capture + "/stderr", encoding: .utf8)) ?? "")
        XCTAssertGreaterThan(written.count, 500)
        XCTAssertFalse(written.contains(secret), "the secret leaked")
        XCTAssertFalse(written.contains(String(secret.dropFirst(7))), "the secret leaked")
        let audit = try String(contentsOfFile: tetra.stateRoot + "/state/audit.jsonl", encoding: .utf8)
        XCTAssertFalse(audit.contains(String(secret.dropFirst(7))))
        XCTAssertEqual(audit.split(separator: "\n").filter { $0.contains("\"via\":\"mcp\"") }.count, 6, audit)
    }

    // MARK: - raw protocol

    func raw(_ lines: [String], args: [String] = []) throws -> (status: Int32, messages: [[String: Any]], stderr: String) {
        let r = try tetra.run(["mcp"] + args, stdin: lines.joined(separator: "\n") + "\n")
        var messages: [[String: Any]] = []
        for line in r.stdout.split(separator: "\n") {
            guard let m = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                XCTFail("stdout carries a line that is not a JSON message: \(line.prefix(200))")
                continue
            }
            messages.append(m)
        }
        return (r.status, messages, r.stderr)
    }

    func initialize(_ version: String, id: Int = 1) -> String {
        #"{"jsonrpc":"2.0","id":\#(id),"method":"initialize","params":{"protocolVersion":"\#(version)","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#
    }

    func testRawProtocolErrorsAndVersions() throws {
        let huge = #"{"jsonrpc":"2.0","id":99,"method":"ping","params":{"pad":""# + String(repeating: "x", count: 5 << 20) + #""}}"#
        let r = try raw([
            "this is not json",
            initialize("2025-06-18"),
            #"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            #"{"jsonrpc":"2.0","id":2,"method":"no/such/method"}"#,
            huge,
            #"{"jsonrpc":"2.0","id":3,"method":"ping"}"#,
            #"{"id":4,"method":"ping"}"#,
            #"[{"jsonrpc":"2.0","id":5,"method":"ping"}]"#,
            #"{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"ports_list","arguments":[1]}}"#,
            #"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"no_such_tool"}}"#,
            #"{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{}}"#,
            #"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"ports_get","arguments":{"name":"web"}}}"#,
            #"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":12345}}"#,
            #"{"jsonrpc":"2.0","id":10,"method":"tools/list"}"#,
        ])
        XCTAssertEqual(r.status, 0, "EOF ends the server cleanly: \(r.stderr)")
        func reply(_ id: Int?) -> [String: Any]? {
            r.messages.first { m in id == nil ? m["id"] is NSNull : (m["id"] as? Int) == id }
        }
        func code(_ m: [String: Any]?) -> Int? { (m?["error"] as? [String: Any])?["code"] as? Int }
        let anonymous = r.messages.filter { $0["id"] is NSNull }.compactMap(code)
        XCTAssertEqual(anonymous, [-32700, -32700, -32600], "garbage, the huge line, a batch: \(r.messages)")
        XCTAssertEqual(code(reply(4)), -32600, "no jsonrpc member")
        XCTAssertEqual((reply(1)?["result"] as? [String: Any])?["protocolVersion"] as? String, "2025-06-18")
        XCTAssertEqual(code(reply(2)), -32601)
        XCTAssertNotNil(reply(3)?["result"], "the server reads on after a huge line")
        XCTAssertNil(reply(99))
        XCTAssertEqual(code(reply(6)), -32602)
        XCTAssertEqual(code(reply(7)), -32602)
        XCTAssertEqual(code(reply(8)), -32602)
        let result = reply(9)?["result"] as? [String: Any]
        XCTAssertEqual((result?["structuredContent"] as? [String: Any])?["port"] as? Int, 8080)
        XCTAssertEqual(result?["isError"] as? Bool, false)
        XCTAssertNotNil((reply(10)?["result"] as? [String: Any])?["tools"])
        XCTAssertTrue(r.stderr.contains("tetra mcp:"), "logs go to stderr")
    }

    func testVersionNegotiation() throws {
        for (asked, answered) in [("2025-06-18", "2025-06-18"), ("2025-11-25", "2025-11-25"),
                                  ("2024-11-05", "2025-11-25"), ("1999-01-01", "2025-11-25"), ("2099-01-01", "2025-11-25")] {
            let r = try raw([initialize(asked)])
            let result = r.messages.first?["result"] as? [String: Any]
            XCTAssertEqual(result?["protocolVersion"] as? String, answered, asked)
            XCTAssertNotNil((result?["capabilities"] as? [String: Any])?["tools"])
        }
        let bad = try raw([#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{}}}"#,
                           #"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#])
        XCTAssertEqual((bad.messages.first?["error"] as? [String: Any])?["code"] as? Int, -32602)
        XCTAssertEqual((bad.messages.last?["error"] as? [String: Any])?["code"] as? Int, -32600, "tools/list before initialize")
        let usage = try tetra.run(["mcp", "--allow-destructive"], stdin: "")
        XCTAssertEqual(usage.status, 2)
    }
}
