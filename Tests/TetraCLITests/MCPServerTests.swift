import Foundation
import XCTest
@testable import TetraCLI
import TetraCore
import TetraTestSupport

/// The MCP server in-process: lines in, messages out (tools run against a temporary state root).
final class MCPServerTests: XCTestCase {
    final class Lines: LineSource {
        var lines: [LineReader.Line]
        init(_ lines: [LineReader.Line]) { self.lines = lines }
        func next() -> LineReader.Line { lines.isEmpty ? .eof : lines.removeFirst() }
    }

    var cli = InProcess()

    override func setUp() {
        cli = InProcess()
        XCTAssertEqual(cli.run(["init"]).status, 0)
        XCTAssertEqual(cli.run(["ports", "set", "web", "8080"]).status, 0)
    }

    func serve(_ lines: [String], settings: MCPServer.Settings = .init()) -> (status: Int32, messages: [JSONValue], log: String) {
        let out = OutputSink(), log = OutputSink()
        let base = CLIContext(stdout: OutputSink(), stderr: OutputSink(), environment: cli.environment,
                              workingDirectory: NSTemporaryDirectory(), runner: cli.runner)
        let runner = cli.runner
        let server = MCPServer(settings: settings, base: base, paths: StatePaths(root: cli.stateRoot), out: out, log: log,
                               makeRunner: { _ in runner })
        let status = server.run(Lines(lines.map { .text($0) }))
        let messages = out.captured.split(separator: "\n").map { line -> JSONValue in
            (try? JSONValue.parse(String(line))) ?? .string("NOT JSON: \(line)")
        }
        return (status, messages, log.captured)
    }

    let initialize = #"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{}}}"#

    func reply(_ messages: [JSONValue], _ id: Int) -> JSONValue? { messages.first { $0["id"]?.integer == id } }

    func testInitializeThenListAndCall() {
        let r = serve([initialize, #"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
                       #"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
                       #"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"ports_get","arguments":{"name":"web"}}}"#,
                       #"{"jsonrpc":"2.0","id":"s","method":"ping"}"#])
        XCTAssertEqual(r.status, 0)
        XCTAssertEqual(reply(r.messages, 0)?["result"]?["protocolVersion"], .string("2025-06-18"))
        let names = reply(r.messages, 1)?["result"]?["tools"]?.array?.compactMap { $0["name"]?.string } ?? []
        XCTAssertEqual(names.first, "doctor")
        XCTAssertTrue(names.contains("ports_list"))
        XCTAssertFalse(names.contains("ports_set"))
        let result = reply(r.messages, 2)?["result"]
        XCTAssertEqual(result?["isError"], .bool(false))
        XCTAssertEqual(result?["structuredContent"]?["port"], .number("8080"))
        XCTAssertEqual(result?["content"]?.array?.first?["text"]?.string, #"{"name":"web","port":8080}"#)
        XCTAssertEqual(r.messages.first { $0["id"] == .string("s") }?["result"], .object([]))
    }

    func testErrorsCarryTheRightCodes() {
        let r = serve(["{", #"{"jsonrpc":"1.0","id":1,"method":"ping"}"#, #"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
                       initialize, #"{"jsonrpc":"2.0","id":3,"method":"resources/list"}"#,
                       #"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"nope"}}"#,
                       #"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"arguments":{}}}"#,
                       #"{"jsonrpc":"2.0","id":6,"method":"tools/call","params":[1]}"#,
                       #"{"jsonrpc":"2.0","id":{"x":1},"method":"ping"}"#,
                       #"{"jsonrpc":"2.0","id":7,"method":"initialize","params":{}}"#])
        func code(_ m: JSONValue?) -> Int? { m?["error"]?["code"]?.integer }
        XCTAssertEqual(code(r.messages.first), -32700)
        XCTAssertEqual(code(reply(r.messages, 1)), -32600)
        XCTAssertEqual(code(reply(r.messages, 2)), -32600, "before initialize")
        XCTAssertEqual(code(reply(r.messages, 3)), -32601)
        XCTAssertEqual(code(reply(r.messages, 4)), -32602)
        XCTAssertEqual(code(reply(r.messages, 5)), -32602)
        XCTAssertEqual(code(reply(r.messages, 6)), -32602)
        XCTAssertEqual(code(reply(r.messages, 7)), -32602)
        XCTAssertEqual(r.messages.filter { $0["id"] == .null }.compactMap(code), [-32700, -32600])
    }

    func testToolErrorsCarryTheCommandsError() {
        let r = serve([initialize,
                       #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ports_get","arguments":{"name":"nope"}}}"#,
                       #"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"ports_get","arguments":{"name":"web","approve":true}}}"#,
                       #"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"ports_set","arguments":{"name":"api","port":"9000"}}}"#,
                       #"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"ports_get","arguments":{}}}"#])
        let notFound = reply(r.messages, 1)?["result"]
        XCTAssertEqual(notFound?["isError"], .bool(true))
        XCTAssertEqual(notFound?["structuredContent"]?["code"], .number("4"))
        XCTAssertEqual(notFound?["structuredContent"]?["kind"], .string("not_found"))
        XCTAssertNotNil(notFound?["structuredContent"]?["message"])
        XCTAssertEqual(reply(r.messages, 2)?["result"]?["structuredContent"]?["code"], .number("2"), "no argument confirms")
        XCTAssertEqual(reply(r.messages, 3)?["result"]?["structuredContent"]?["code"], .number("7"), "read-only server")
        XCTAssertEqual(reply(r.messages, 4)?["result"]?["structuredContent"]?["message"], .string("missing argument name"))
        XCTAssertEqual(cli.run(["ports", "get", "api"]).status, 4)
        let audit = (try? String(contentsOfFile: cli.stateRoot + "/state/audit.jsonl", encoding: .utf8)) ?? ""
        XCTAssertEqual(audit.split(separator: "\n").filter { $0.contains(#""via":"mcp""#) }.count, 4, audit)
    }

    func testWriteServerRunsAMutatingToolAndADestructiveOneNeedsElicitation() {
        let r = serve([initialize,
                       #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ports_set","arguments":{"name":"api","port":9000}}}"#,
                       #"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"ports_remove","arguments":{"name":"api","dry_run":true}}}"#,
                       #"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"org_delete","arguments":{"org":"demo"}}}"#],
                      settings: .init(allowWrite: true, allowDestructive: true))
        XCTAssertEqual(reply(r.messages, 1)?["result"]?["isError"], .bool(false), "\(r.messages)")
        XCTAssertEqual(reply(r.messages, 2)?["result"]?["structuredContent"]?["dry_run"], .bool(true))
        let refused = reply(r.messages, 3)?["result"]?["structuredContent"]
        XCTAssertEqual(refused?["code"], .number("7"))
        XCTAssertTrue(refused?["message"]?.string?.contains("no elicitation capability") ?? false)
        XCTAssertEqual(cli.run(["ports", "get", "api"]).stdout, "9000\n")
    }

    /// Lines given one by one; `.after(TEXT, line)` waits until the server wrote TEXT first.
    final class Scripted: LineSource {
        enum Step { case line(String), after(String, String) }
        var steps: [Step]
        let out: OutputSink
        init(_ steps: [Step], out: OutputSink) { self.steps = steps; self.out = out }
        func next() -> LineReader.Line {
            guard !steps.isEmpty else { return .eof }
            switch steps.removeFirst() {
            case .line(let text): return .text(text)
            case .after(let wanted, let text):
                for _ in 0..<500 where !out.captured.contains(wanted) { usleep(10_000) }
                return .text(text)
            }
        }
    }

    func serveScripted(_ steps: [Scripted.Step]) -> [JSONValue] {
        let out = OutputSink(), log = OutputSink()
        let base = CLIContext(stdout: OutputSink(), stderr: OutputSink(), environment: cli.environment,
                              workingDirectory: NSTemporaryDirectory(), runner: cli.runner)
        let runner = cli.runner
        let server = MCPServer(settings: .init(allowWrite: true, allowDestructive: true), base: base,
                               paths: StatePaths(root: cli.stateRoot), out: out, log: log, makeRunner: { _ in runner })
        XCTAssertEqual(server.run(Scripted(steps, out: out)), 0)
        return out.captured.split(separator: "\n").compactMap { try? JSONValue.parse(String($0)) }
    }

    let withElicitation = #"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"elicitation":{"form":{}}}}}"#
    let deleteDemo = #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"org_delete","arguments":{"org":"demo"}}}"#

    func testElicitationIsAskedAndAWrongAnswerRefuses() {
        let messages = serveScripted([.line(withElicitation), .line(deleteDemo),
                                      .after("elicitation/create", #"{"jsonrpc":"2.0","id":"tetra-1","result":{"action":"accept","content":{"name":"dem"}}}"#)])
        let request = messages.first { $0["method"]?.string == "elicitation/create" }
        XCTAssertEqual(request?["params"]?["mode"], .string("form"))
        XCTAssertTrue(request?["params"]?["message"]?.string?.contains("'demo'") ?? false)
        XCTAssertEqual(request?["params"]?["requestedSchema"]?["required"], .array([.string("name")]))
        let result = messages.first { $0["id"]?.integer == 1 }?["result"]?["structuredContent"]
        XCTAssertEqual(result?["code"], .number("7"))
        XCTAssertTrue(result?["message"]?.string?.contains("is not 'demo'") ?? false, "\(String(describing: result))")
    }

    func testACancelledCallGetsNoResponseAndChangesNothing() {
        XCTAssertEqual(cli.run(["org", "create", "demo"]).status, 0)
        let messages = serveScripted([.line(withElicitation), .line(deleteDemo),
                                      .after("elicitation/create", #"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}"#),
                                      .line(#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#),
                                      .after(#""id":2"#, #"{"jsonrpc":"2.0","id":"tetra-1","result":{"action":"accept","content":{"name":"demo"}}}"#)])
        XCTAssertNil(messages.first { $0["id"]?.integer == 1 }, "no response to a cancelled call")
        XCTAssertNotNil(messages.first { $0["id"]?.integer == 2 }?["result"])
        XCTAssertEqual(cli.run(["org", "show", "demo"]).status, 0, "the org is still there")
    }

    func testSecretValuesAreMaskedInResults() throws {
        XCTAssertEqual(cli.run(["org", "create", "acme"]).status, 0)
        let file = cli.stateRoot + "/orgs/acme/secrets.env"
        try "TOKEN=\"hunter2-secret\"\n".write(toFile: file, atomically: true, encoding: .utf8)
        let r = serve([initialize, #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"config_get","arguments":{"file":"\#(file)","key_path":"TOKEN"}}}"#])
        XCTAssertEqual(reply(r.messages, 1)?["result"]?["structuredContent"]?["value"], .string("***"))
        XCTAssertFalse(r.messages.map(\.serialized).joined().contains("hunter2"))
        XCTAssertFalse(r.log.contains("hunter2"))
    }

    func testAFileArgumentCannotBeTheProtocolChannel() {
        let r = serve([initialize, #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"config_check","arguments":{"file":["-"]}}}"#])
        XCTAssertEqual(reply(r.messages, 1)?["result"]?["structuredContent"]?["code"], .number("2"))
    }
}
