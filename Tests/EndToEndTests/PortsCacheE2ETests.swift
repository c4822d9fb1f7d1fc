import XCTest

/// `ports get` through the lookup cache: a hit gives the registered port, and any edit to
/// ports.toml (by tetra or by hand, in place or renamed) is seen at once.
final class PortsCacheE2ETests: XCTestCase {
    func testGetUsesTheCacheAndSeesEveryEdit() throws {
        let t = Tetra()
        XCTAssertEqual(try t.run(["init"]).status, 0)
        XCTAssertEqual(try t.run(["ports", "set", "api", "4000"]).status, 0)
        let ports = t.stateRoot + "/config/ports.toml"
        let cache = t.stateRoot + "/state/cache/ports.cache"
        // The cache is filled only from a file older than its 1 s margin.
        XCTAssertEqual(try t.run(["ports", "get", "api"]).stdout, "4000\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: cache), "a fresh file is not cached")
        Thread.sleep(forTimeInterval: 1.2)
        XCTAssertEqual(try t.run(["ports", "get", "api"]).stdout, "4000\n")
        XCTAssertTrue(FileManager.default.fileExists(atPath: cache))
        XCTAssertEqual(try t.run(["ports", "get", "api"]).stdout, "4000\n")

        // tetra's own edit (renamed over the file).
        XCTAssertEqual(try t.run(["ports", "set", "api", "4001"]).status, 0)
        XCTAssertEqual(try t.run(["ports", "get", "api"]).stdout, "4001\n")

        // A hand edit in place, same size, right after a cache refresh.
        Thread.sleep(forTimeInterval: 1.2)
        XCTAssertEqual(try t.run(["ports", "get", "api"]).stdout, "4001\n")
        let text = try String(contentsOfFile: ports, encoding: .utf8)
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: ports))
        handle.write(Data(text.replacingOccurrences(of: "api = 4001", with: "api = 4002").utf8))
        handle.closeFile()
        XCTAssertEqual(try t.run(["ports", "get", "api"]).stdout, "4002\n")

        // A syntax error is reported even though a cache exists.
        try (text + "\nbroken = \n").write(toFile: ports, atomically: true, encoding: .utf8)
        let broken = try t.run(["ports", "get", "api"])
        XCTAssertEqual(broken.status, 3)
        XCTAssertTrue(broken.stderr.contains("ports.toml:"), broken.stderr)
        // An unknown name still gets its hint from a real parse.
        try text.write(toFile: ports, atomically: true, encoding: .utf8)
        let missing = try t.run(["ports", "get", "apj"])
        XCTAssertEqual(missing.status, 4)
        XCTAssertTrue(missing.stderr.contains("api"), missing.stderr)
    }
}
