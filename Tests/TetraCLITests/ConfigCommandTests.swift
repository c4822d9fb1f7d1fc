import Foundation
import XCTest
@testable import TetraCLI
import TetraCore

final class ConfigCommandTests: XCTestCase {
    func file(_ text: String) throws -> String {
        let path = InProcess().stateRoot.replacingOccurrences(of: "/root", with: "") + "/f.toml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testDecodePlainAndTagged() throws {
        let cli = InProcess()
        let plain = cli.run(["config", "decode", "-"], stdin: "a = 1\nb = 1.5\n[t]\nd = 1979-05-27\n")
        XCTAssertEqual(plain.status, 0)
        let doc = try JSONSerialization.jsonObject(with: Data(plain.stdout.utf8)) as? [String: Any]
        XCTAssertEqual(doc?["a"] as? Int, 1)
        XCTAssertEqual((doc?["t"] as? [String: Any])?["d"] as? String, "1979-05-27")
        let tagged = cli.run(["config", "decode", "--tagged"], stdin: "a = 1\n")
        XCTAssertEqual(tagged.stdout, #"{"a":{"type":"integer","value":"1"}}"# + "\n")
    }

    func testDecodeErrorIsExit3WithPosition() {
        let r = InProcess().run(["config", "decode", "-"], stdin: "a = 1\na = 2\n")
        XCTAssertEqual(r.status, 3)
        XCTAssertEqual(r.stderr, "tetra: error: <stdin>:2:1: duplicate key 'a' (first defined at 1:1)\n")
    }

    func testEncodeTaggedAndPlain() throws {
        let cli = InProcess()
        let tagged = cli.run(["config", "encode", "--tagged"], stdin: #"{"a":{"type":"float","value":"inf"}}"#)
        XCTAssertEqual(tagged.stdout, "a = inf\n")
        let plain = cli.run(["config", "encode"], stdin: #"{"n":1,"f":2.0,"s":"x","t":{"k":[true]}}"#)
        XCTAssertEqual(plain.status, 0)
        let back = try TOMLParser.parse(plain.stdout)
        XCTAssertEqual(back["n"], .integer(1))
        XCTAssertEqual(back["f"], .float(2.0))
        XCTAssertEqual(cli.run(["config", "encode"], stdin: #"{"n":null}"#).status, 3)
    }

    func testGetAndSetPreserveFormatting() throws {
        let cli = InProcess()
        let path = try file("""
            # settings
            [server]   # main
            host = 'example.com'    # literal string
            port = 0x1F90

            [[servers]]
            name = "a"
            """)
        XCTAssertEqual(cli.run(["config", "get", path, "server.host"]).stdout, "example.com\n")
        XCTAssertEqual(cli.run(["config", "get", path, "server.port"]).stdout, "0x1F90\n".replacingOccurrences(of: "0x1F90", with: "8080"))
        XCTAssertEqual(cli.run(["config", "get", path, "server.nope"]).status, 4)
        let set = cli.run(["config", "set", path, "server.port", "9090"])
        XCTAssertEqual(set.status, 0, set.stderr)
        XCTAssertEqual(set.stdout, "-port = 0x1F90\n+port = 9090\n")
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), """
            # settings
            [server]   # main
            host = 'example.com'    # literal string
            port = 9090

            [[servers]]
            name = "a"
            """)
        XCTAssertEqual(cli.run(["config", "set", path, "server.host", "bare"]).status, 2)
        XCTAssertEqual(cli.run(["config", "set", path, "server.", "1"]).status, 2)
        let dry = cli.run(["config", "set", path, "server.host", "\"new\"", "--dry-run"])
        XCTAssertEqual(dry.status, 0)
        XCTAssertTrue(try String(contentsOfFile: path, encoding: .utf8).contains("'example.com'"))
    }

    func testCheckReportsFirstErrorPerFile() throws {
        let good = try file("a = 1\n")
        let bad = try file("a = [1,\n")
        let r = InProcess().run(["config", "check", good, bad])
        XCTAssertEqual(r.status, 3)
        XCTAssertTrue(r.stdout.hasPrefix("ok \(good)\n"))
        XCTAssertTrue(r.stdout.contains("\(bad):"))
    }
}
