import XCTest
@testable import TetraCLI
import TetraCore

/// Parser unit tests against a small table of their own, so they pin the parser's rules
/// independently of the real commands.
final class ParserTests: XCTestCase {
    static let noop: CommandHandler = { _, _ in CommandOutput() }

    let table = CommandSpec("tetra", summary: "test", subcommands: [
        CommandSpec("ports", summary: "ports", subcommands: [
            CommandSpec("allocate", summary: "allocate",
                        arguments: [ArgSpec("NAME", help: "name")],
                        flags: [FlagSpec("range", value: .string, help: "range"),
                                FlagSpec("count", short: "c", value: .integer(min: 1, max: 10), help: "count")],
                        mutates: true, json: true, handler: noop),
            CommandSpec("ranges", summary: "list ranges", json: true, subcommands: [
                CommandSpec("set", summary: "set", arguments: [ArgSpec("NAME", help: ""), ArgSpec("RANGE", help: "")],
                            mutates: true, handler: noop),
            ], handler: noop),
        ]),
        CommandSpec("render", summary: "render",
                    arguments: [ArgSpec("NAME", help: ""), ArgSpec("FILES", help: "", optional: true, variadic: true)],
                    flags: [FlagSpec("set", value: .keyValue, repeatable: true, help: "set"),
                            FlagSpec("force", short: "f", help: "force"),
                            FlagSpec("output", short: "o", value: .path, help: "out"),
                            FlagSpec("mode", value: .choice(["fast", "slow"]), help: "mode"),
                            FlagSpec("within", value: .duration, help: "within")],
                    handler: noop),
        CommandSpec("logs", summary: "logs", flags: [FlagSpec("lines", short: "n", value: .integer(min: 0, max: 100000), help: "lines")],
                    handler: noop),
    ])

    func parse(_ argv: [String]) throws -> Invocation {
        guard case .run(let inv) = try ArgumentParser(root: table).parse(argv) else {
            XCTFail("expected a run outcome for \(argv)")
            throw CoreError.failed("not a run")
        }
        return inv
    }

    func usageError(_ argv: [String], file: StaticString = #filePath, line: UInt = #line) -> UsageError? {
        do {
            _ = try ArgumentParser(root: table).parse(argv)
            XCTFail("expected a usage error for \(argv)", file: file, line: line)
            return nil
        } catch let e as UsageError {
            XCTAssertEqual(e.exitCode, .usage, file: file, line: line)
            return e
        } catch {
            XCTFail("unexpected error \(error)", file: file, line: line)
            return nil
        }
    }

    func testSubcommandDispatchAndPositional() throws {
        let inv = try parse(["ports", "allocate", "api"])
        XCTAssertEqual(inv.path, ["ports", "allocate"])
        XCTAssertEqual(inv.argument("NAME"), "api")
    }

    func testFlagWithSeparateValueAndEqualsValue() throws {
        XCTAssertEqual(try parse(["ports", "allocate", "api", "--range", "dev"]).flag("range"), "dev")
        XCTAssertEqual(try parse(["ports", "allocate", "--range=dev", "api"]).flag("range"), "dev")
        XCTAssertEqual(try parse(["ports", "allocate", "--range=", "api"]).flag("range"), "")
        XCTAssertEqual(try parse(["ports", "allocate", "--range", "a=b", "api"]).flag("range"), "a=b")
    }

    func testShortFlagsBundledAndAttachedValues() throws {
        let inv = try parse(["render", "x", "-fo", "out"])
        XCTAssertTrue(inv.has("force"))
        XCTAssertEqual(inv.flag("output"), "out")
        XCTAssertEqual(try parse(["render", "x", "-oout"]).flag("output"), "out")
        XCTAssertEqual(try parse(["logs", "-n", "5"]).int("lines"), 5)
        XCTAssertEqual(try parse(["logs", "-n5"]).int("lines"), 5)
        let q = try parse(["render", "x", "-qy"])
        XCTAssertTrue(q.has("quiet"))
        XCTAssertTrue(q.has("yes"))
    }

    func testDryRunShortFlagOnlyOnMutatingCommands() throws {
        XCTAssertTrue(try parse(["ports", "allocate", "api", "-n"]).has("dry-run"))
        // `logs -n` is its own value flag: no clash with the dry-run switch.
        XCTAssertEqual(try parse(["logs", "-n", "3"]).flag("lines"), "3")
        XCTAssertNotNil(usageError(["render", "x", "--dry-run"]))
    }

    func testDoubleDashEndsFlags() throws {
        let inv = try parse(["render", "x", "--", "--force", "-o"])
        XCTAssertEqual(inv.arguments("FILES"), ["--force", "-o"])
        XCTAssertFalse(inv.has("force"))
    }

    func testRepeatedFlags() throws {
        let inv = try parse(["render", "x", "--set", "a=1", "--set=b=2"])
        XCTAssertEqual(inv.flagValues("set"), ["a=1", "b=2"])
        // A non-repeatable value flag given twice is an error.
        XCTAssertNotNil(usageError(["render", "x", "-o", "a", "-o", "b"]))
    }

    func testGlobalFlagsAnywhere() throws {
        let inv = try parse(["--dir", "/tmp/x", "ports", "--json", "allocate", "api", "--org=acme", "-v"])
        XCTAssertEqual(inv.flag("dir"), "/tmp/x")
        XCTAssertTrue(inv.has("json"))
        XCTAssertEqual(inv.flag("org"), "acme")
        XCTAssertTrue(inv.has("verbose"))
        XCTAssertEqual(try parse(["render", "x", "--lock-wait", "30s"]).flag("lock-wait"), "30s")
    }

    func testNodeWithHandlerAndChildren() throws {
        XCTAssertEqual(try parse(["ports", "ranges"]).path, ["ports", "ranges"])
        let set = try parse(["ports", "ranges", "set", "dev", "3000-3999"])
        XCTAssertEqual(set.path, ["ports", "ranges", "set"])
        XCTAssertEqual(set.argument("RANGE"), "3000-3999")
        let e = usageError(["ports", "ranges", "sett"])
        XCTAssertEqual(e?.suggestion, "ports ranges set")
    }

    func testHelpAnywhere() throws {
        for argv in [["--help"], ["-h"], ["ports", "--help"], ["ports", "allocate", "-h"], ["ports", "allocate", "--range", "x", "--help"]] {
            guard case .help(let path) = try ArgumentParser(root: table).parse(argv) else {
                return XCTFail("expected help for \(argv)")
            }
            XCTAssertEqual(path, Array(argv.filter { !$0.hasPrefix("-") && $0 != "x" }))
        }
        // Help wins over errors that come after it is requested on an unknown word.
        guard case .help = try ArgumentParser(root: table).parse(["ports", "--help", "nope"]) else { return XCTFail() }
    }

    func testVersion() throws {
        guard case .version = try ArgumentParser(root: table).parse(["--version"]) else { return XCTFail() }
    }

    func testUnknownCommandSuggestsClosest() {
        let e = usageError(["prots", "list"])
        XCTAssertEqual(e?.message, "unknown command 'prots' for 'tetra'")
        XCTAssertEqual(e?.suggestion, "ports")
        XCTAssertEqual(usageError(["ports", "alocate", "x"])?.suggestion, "ports allocate")
        XCTAssertNil(usageError(["zzzzzz"])?.suggestion)
    }

    func testUnknownFlagSuggestsClosestAndNoPrefixMatching() {
        let e = usageError(["ports", "allocate", "api", "--rnage", "x"])
        XCTAssertEqual(e?.suggestion, "--range")
        XCTAssertTrue(e?.usage?.contains("tetra ports allocate NAME") ?? false)
        // No prefix matching: --ran is not --range.
        XCTAssertNotNil(usageError(["ports", "allocate", "api", "--ran", "x"]))
        XCTAssertNotNil(usageError(["render", "x", "-z"]))
    }

    func testMissingValuesAndArguments() {
        XCTAssertEqual(usageError(["ports", "allocate", "api", "--range"])?.message, "flag --range needs a value (VALUE)")
        XCTAssertEqual(usageError(["ports", "allocate"])?.message, "missing argument NAME")
        XCTAssertEqual(usageError(["ports", "allocate", "a", "b"])?.message, "unexpected argument 'b'")
        XCTAssertNotNil(usageError(["ports"]))
        XCTAssertEqual(usageError(["render", "x", "--force=yes"])?.message, "flag --force does not take a value (got 'yes')")
    }

    func testTypedValuesAreCheckedAtParseTime() {
        XCTAssertNotNil(usageError(["ports", "allocate", "a", "--count", "0"]))
        XCTAssertNotNil(usageError(["ports", "allocate", "a", "--count", "abc"]))
        XCTAssertNotNil(usageError(["render", "x", "--mode", "fsat"]))
        XCTAssertEqual(usageError(["render", "x", "--mode", "fsat"])?.suggestion, "fast")
        XCTAssertNotNil(usageError(["render", "x", "--within", "5 minutes"]))
        XCTAssertNotNil(usageError(["render", "x", "--set", "novalue"]))
        XCTAssertNotNil(usageError(["render", "x", "--color", "sometimes"]))
    }

    func testEditDistance() {
        XCTAssertEqual(Suggest.distance("ports", "prots"), 1) // transposition
        XCTAssertEqual(Suggest.distance("", "abc"), 3)
        XCTAssertEqual(Suggest.distance("kitten", "sitting"), 3)
    }
}
