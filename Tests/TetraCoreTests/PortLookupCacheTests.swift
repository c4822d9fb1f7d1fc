import XCTest
@testable import TetraCore

final class PortLookupCacheTests: XCTestCase {
    var dir = ""
    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "portcache-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir + "/state", withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func cache(margin: Int64 = 0) -> PortLookupCache {
        var c = PortLookupCache(cachePath: dir + "/state/cache/ports.cache", sourcePath: dir + "/ports.toml")
        c.marginNanoseconds = margin
        return c
    }

    func writeSource(_ text: String) throws {
        try AtomicFile.write(string: text, to: dir + "/ports.toml")
    }

    func testHitAfterStoreAndMissForUnknownName() throws {
        try writeSource("[ports]\napi = 4000\n")
        let c = cache()
        usleep(2000)
        c.store([("api", 4000), ("web", 4001), ("BAD NAME", 1)], identity: try XCTUnwrap(PortLookupCache.identity(of: c.sourcePath)))
        XCTAssertEqual(c.lookup("api"), 4000)
        XCTAssertEqual(c.lookup("web"), 4001)
        XCTAssertNil(c.lookup("ap"), "a prefix is not a name")
        XCTAssertNil(c.lookup("other"))
        var info = stat()
        XCTAssertEqual(stat(c.cachePath, &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o600)
        let text = try String(contentsOfFile: c.cachePath, encoding: .utf8)
        XCTAssertFalse(text.contains("BAD NAME"), "only valid names are cached")
    }

    func testAnyChangeToTheFileIsAMiss() throws {
        try writeSource("[ports]\napi = 4000\n")
        let c = cache()
        usleep(2000)
        c.store([("api", 4000)], identity: try XCTUnwrap(PortLookupCache.identity(of: c.sourcePath)))
        XCTAssertEqual(c.lookup("api"), 4000)
        // Same size, same inode, written in place: ctime and mtime move.
        let fd = open(c.sourcePath, O_WRONLY)
        XCTAssertGreaterThanOrEqual(fd, 0)
        _ = "[ports]\napi = 4001\n".withCString { write(fd, $0, 19) }
        close(fd)
        XCTAssertNil(c.lookup("api"))
        // A new file renamed over it (new inode).
        try writeSource("[ports]\napi = 4000\n")
        XCTAssertNil(c.lookup("api"))
        // No source file at all.
        try FileManager.default.removeItem(atPath: c.sourcePath)
        XCTAssertNil(c.lookup("api"))
    }

    func testAFileChangedWithinTheMarginIsNeitherStoredNorTrusted() throws {
        try writeSource("[ports]\napi = 4000\n")
        let strict = cache(margin: 60_000_000_000)
        strict.store([("api", 4000)], identity: try XCTUnwrap(PortLookupCache.identity(of: strict.sourcePath)))
        XCTAssertFalse(FileManager.default.fileExists(atPath: strict.cachePath), "too fresh to cache")
        // Stored under a lax margin, read under the strict one: not trusted.
        let lax = cache()
        usleep(2000)
        lax.store([("api", 4000)], identity: try XCTUnwrap(PortLookupCache.identity(of: lax.sourcePath)))
        XCTAssertEqual(lax.lookup("api"), 4000)
        XCTAssertNil(strict.lookup("api"))
    }

    func testCorruptCachesAreMisses() throws {
        try writeSource("[ports]\napi = 4000\n")
        let c = cache()
        usleep(2000)
        c.store([("api", 4000)], identity: try XCTUnwrap(PortLookupCache.identity(of: c.sourcePath)))
        let good = try String(contentsOfFile: c.cachePath, encoding: .utf8)
        let header = good.split(separator: "\n")[0]
        for bad in ["", "garbage", String(header), "\(header)\napi 99999\n", "\(header)\napi x\n", "\(header)\napi \n",
                    good.replacingOccurrences(of: "tetra-ports-cache 2", with: "tetra-ports-cache 1"),
                    good.replacingOccurrences(of: "api 4000", with: "api 4001"), good + "web 1\n"] {
            try bad.write(toFile: c.cachePath, atomically: true, encoding: .utf8)
            XCTAssertNil(c.lookup("api"), "cache: \(bad.debugDescription)")
        }
    }
}
