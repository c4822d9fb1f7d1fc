import Foundation
import XCTest
@testable import TetraCLI
import TetraCore

/// The tool catalog generated from the command table.
final class MCPToolsTests: XCTestCase {
    let tools = MCPToolCatalog.all()

    func tool(_ name: String) -> MCPTool? { tools.first { $0.name == name } }

    func testOneToolPerJSONCommandInTheTablesOrder() {
        var expected: [String] = []
        func walk(_ spec: CommandSpec, _ path: [String]) {
            if spec.handler != nil, spec.supportsJSON, !path.isEmpty, path != ["quickstart"] { expected.append(path.joined(separator: "_")) }
            for child in spec.subcommands where !child.hidden { walk(child, path + [child.name]) }
        }
        walk(CommandTable.root, [])
        XCTAssertEqual(tools.map(\.name), expected)
        XCTAssertEqual(Set(tools.map(\.name)).count, tools.count, "names are unique")
        XCTAssertNil(tool("mcp"))
        XCTAssertNil(tool("__host_activate"))
        XCTAssertNotNil(tool("org_snapshot_list"))
    }

    func testKindsAndAnnotations() {
        XCTAssertEqual(tool("ports_list")?.kind, .read)
        XCTAssertEqual(tool("ports_set")?.kind, .write)
        XCTAssertEqual(tool("org_push")?.kind, .destructive, "needs --approve for a protected env")
        XCTAssertEqual(tool("volume_delete")?.kind, .destructive, "needs --yes")
        XCTAssertEqual(tool("exec")?.kind, .destructive)
        let entry = MCPToolCatalog.entry(tool("volume_delete")!)
        XCTAssertEqual(entry["annotations"]?["readOnlyHint"], .bool(false))
        XCTAssertEqual(entry["annotations"]?["destructiveHint"], .bool(true))
        XCTAssertEqual(entry["annotations"]?["idempotentHint"], .bool(true))
        let set = MCPToolCatalog.entry(tool("ports_allocate")!)
        XCTAssertEqual(set["annotations"]?["idempotentHint"], .bool(false), "a second allocate takes another port")
        XCTAssertEqual(MCPToolCatalog.entry(tool("ports_list")!)["annotations"]?["readOnlyHint"], .bool(true))
    }

    func testVisibility() {
        let read = MCPToolCatalog.visible(tools, allowWrite: false, allowDestructive: false)
        XCTAssertTrue(read.allSatisfy { $0.kind == .read })
        let write = MCPToolCatalog.visible(tools, allowWrite: true, allowDestructive: false)
        XCTAssertTrue(write.contains { $0.name == "ports_set" })
        XCTAssertFalse(write.contains { $0.kind == .destructive })
        XCTAssertEqual(MCPToolCatalog.visible(tools, allowWrite: true, allowDestructive: true).count, tools.count)
    }

    func testInputSchemaFromArgumentsAndFlags() {
        let schema = MCPToolCatalog.inputSchema(tool("ports_allocate")!)
        XCTAssertEqual(schema["type"], .string("object"))
        XCTAssertEqual(schema["required"], .array([.string("name")]))
        XCTAssertEqual(schema["additionalProperties"], .bool(false))
        let props = schema["properties"]?.object?.map(\.0) ?? []
        XCTAssertEqual(props, ["name", "range", "env", "dry_run", "org", "lock_wait"])
        XCTAssertEqual(schema["properties"]?["dry_run"]?["type"], .string("boolean"))
        XCTAssertEqual(schema["properties"]?["name"]?["description"], .string("port name"))

        let export = MCPToolCatalog.inputSchema(tool("ports_export")!)
        XCTAssertEqual(export["properties"]?["format"]?["enum"], .array(["toml", "json", "env"].map(JSONValue.string)))
        let logs = MCPToolCatalog.inputSchema(tool("svc_logs")!)
        XCTAssertEqual(logs["properties"]?["lines"]?["type"], .string("integer"))
        XCTAssertNil(logs["properties"]?["follow"], "interactive flags are not arguments")
        let check = MCPToolCatalog.inputSchema(tool("config_check")!)
        XCTAssertEqual(check["properties"]?["file"]?["type"], .string("array"))
        let set = MCPToolCatalog.inputSchema(tool("config_set")!)
        XCTAssertEqual(set["required"], .array(["file", "key_path", "value"].map(JSONValue.string)))
        for t in tools {
            let keys = MCPToolCatalog.inputSchema(t)["properties"]?.object?.map(\.0) ?? []
            for forbidden in ["yes", "approve", "json", "dir", "quiet", "verbose", "color", "help", "reveal", "follow"] {
                XCTAssertFalse(keys.contains(forbidden), "\(t.name) takes \(forbidden)")
            }
        }
    }

    func testInvocationFromArguments() throws {
        let inv = try MCPCall.invocation(tool("ports_set")!, arguments: [("name", .string("api")), ("port", .number("9000")),
                                                                         ("force", .bool(true))], dir: "/tmp/x")
        XCTAssertEqual(inv.argument("NAME"), "api")
        XCTAssertEqual(inv.argument("PORT"), "9000")
        XCTAssertTrue(inv.has("force"))
        XCTAssertTrue(inv.has("json"))
        XCTAssertEqual(inv.flag("dir"), "/tmp/x")
        XCTAssertFalse(inv.has("yes"))
        // A value that looks like a flag stays a value.
        let tricky = try MCPCall.invocation(tool("ports_get")!, arguments: [("name", .string("--yes"))], dir: nil)
        XCTAssertEqual(tricky.argument("NAME"), "--yes")
        XCTAssertFalse(tricky.has("yes"))
        XCTAssertThrowsError(try MCPCall.invocation(tool("ports_get")!, arguments: [("name", .string("a")), ("yes", .bool(true))], dir: nil))
        XCTAssertThrowsError(try MCPCall.invocation(tool("svc_logs")!, arguments: [("name", .string("a")), ("lines", .string("many"))], dir: nil))
        XCTAssertThrowsError(try MCPCall.invocation(tool("ports_export")!, arguments: [("format", .string("xml"))], dir: nil))
        XCTAssertThrowsError(try MCPCall.invocation(tool("ports_get")!, arguments: [("name", .array([.string("a")]))], dir: nil))
        let exec = try MCPCall.invocation(tool("exec")!, arguments: [("env", .string("dev")), ("cmd", .array([.string("ls"), .string("-l")]))], dir: nil)
        XCTAssertEqual(try FleetExecCommands.command(exec), ["ls", "-l"])
        let confirmed = MCPCall.confirmed(try MCPCall.invocation(tool("org_push")!, arguments: [("org", .string("a")), ("env", .string("prod"))], dir: nil))
        XCTAssertTrue(confirmed.has("yes") && confirmed.has("approve"))
    }

    func testConfirmationTargets() throws {
        func target(_ name: String, _ args: [(String, JSONValue)]) throws -> String? {
            let t = tool(name)!
            return MCPConfirmation.target(t, try MCPCall.invocation(t, arguments: args, dir: nil), orgFallback: { "fallback" })?.name
        }
        XCTAssertEqual(try target("org_push", [("org", .string("acme")), ("env", .string("prod"))]), "prod")
        XCTAssertEqual(try target("env_promote", [("from", .string("staging")), ("to", .string("prod"))]), "prod")
        XCTAssertEqual(try target("volume_delete", [("name", .string("data"))]), "data")
        XCTAssertEqual(try target("ssl_delete", [("domain", .string("example.com"))]), "example.com")
        XCTAssertEqual(try target("org_delete", [("org", .string("acme"))]), "acme")
        XCTAssertEqual(try target("volume_prune", []), "fallback")
        XCTAssertEqual(try target("volume_prune", [("all", .bool(true))]), "all")
    }

    /// Commands that need --yes are not marked in the table: every `confirm(` in the command
    /// sources must belong to one listed in MCPToolCatalog.needsYes.
    func testTheNeedsYesListMatchesTheConfirmationsInTheSources() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources/TetraCLI/Commands")
        var count = 0
        for file in try FileManager.default.contentsOfDirectory(atPath: dir.path) where file.hasSuffix(".swift") {
            let text = try String(contentsOfFile: dir.appendingPathComponent(file).path, encoding: .utf8)
            count += text.components(separatedBy: "env.confirm(").count - 1
        }
        XCTAssertEqual(count, MCPToolCatalog.needsYes.count,
                       "a command asks for --yes that MCPToolCatalog.needsYes does not list (or the reverse)")
        for command in MCPToolCatalog.needsYes {
            XCTAssertEqual(tool(command.replacingOccurrences(of: " ", with: "_"))?.kind, .destructive, command)
        }
    }
}
