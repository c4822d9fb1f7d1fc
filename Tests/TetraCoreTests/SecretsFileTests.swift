import XCTest
@testable import TetraCore

final class SecretsFileTests: XCTestCase {
    func testParsesCommentsExportQuotesAndOrder() throws {
        let text = """
        # database
        DATABASE_URL=postgres://u:p@db/app
          export API_TOKEN = "a b\\n\\"c\\""

        LITERAL='x\\ny # not a comment'
        EMPTY=
        TRAILING="v"   # comment after
        """
        let s = try SecretsFile.parse(text, file: "secrets.env")
        XCTAssertEqual(s.names, ["DATABASE_URL", "API_TOKEN", "LITERAL", "EMPTY", "TRAILING"])
        XCTAssertEqual(s.values["DATABASE_URL"], "postgres://u:p@db/app")
        XCTAssertEqual(s.values["API_TOKEN"], "a b\n\"c\"")
        XCTAssertEqual(s.values["LITERAL"], "x\\ny # not a comment")
        XCTAssertEqual(s.values["EMPTY"], "")
        XCTAssertEqual(s.values["TRAILING"], "v")
    }

    func testEveryProblemWithLineAndColumnAndNoValueInMessages() {
        let text = "OK=1\nno equals here\n1BAD=x\nOK=2\nQ=\"unterminated secretvalue\n"
        XCTAssertThrowsError(try SecretsFile.parse(text, file: "s.env")) { error in
            let e = error as! ConfigError
            let lines = e.problems.map(\.description)
            XCTAssertEqual(lines, [
                "s.env:2:1: expected KEY=VALUE",
                "s.env:3:1: invalid key '1BAD' (letters, digits and '_', not starting with a digit)",
                "s.env:4:1: duplicate key 'OK' (first defined at line 1)",
                "s.env:5:3: Q: unterminated double-quoted value",
            ])
            XCTAssertFalse(lines.joined().contains("secretvalue"))
        }
    }

    func testRenderRoundTrips() throws {
        let entries = [("A", "plain"), ("B", "with space"), ("C", "q\"uote\\n\nline"), ("D", "")]
        let parsed = try SecretsFile.parse(SecretsFile.render(entries))
        XCTAssertEqual(parsed.names, entries.map(\.0))
        for (k, v) in entries { XCTAssertEqual(parsed.values[k], v) }
    }

    func testLoadReportsLooseModeAndMissingFileIsEmpty() throws {
        let dir = NSTemporaryDirectory() + "secrets-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        XCTAssertEqual(try SecretsFile.load(dir + "/none.env"), SecretsFile())
        try AtomicFile.write(string: "K=v\n", to: dir + "/a.env", mode: 0o600)
        XCTAssertFalse(try SecretsFile.load(dir + "/a.env").looseMode)
        try AtomicFile.write(string: "K=v\n", to: dir + "/b.env", mode: 0o644)
        XCTAssertTrue(try SecretsFile.load(dir + "/b.env").looseMode)
    }
}
