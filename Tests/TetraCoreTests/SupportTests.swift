import Foundation
import XCTest
@testable import TetraCore
import TetraTestSupport

final class SupportDurationTests: XCTestCase {
    func testParsesUnits() throws {
        XCTAssertEqual(try DurationValue.seconds("500ms"), 0.5, accuracy: 1e-9)
        XCTAssertEqual(try DurationValue.seconds("30s"), 30)
        XCTAssertEqual(try DurationValue.seconds("5m"), 300)
        XCTAssertEqual(try DurationValue.seconds("2h"), 7200)
        XCTAssertEqual(try DurationValue.seconds("7d"), 604_800)
        XCTAssertEqual(try DurationValue.seconds("0s"), 0)
        XCTAssertEqual(try DurationValue.seconds("1h30m"), 5400)
        XCTAssertEqual(try DurationValue.seconds("2m30s"), 150)
        XCTAssertEqual(try DurationValue.seconds("1.5h"), 5400)
        XCTAssertEqual(try DurationValue.seconds("1d2h3m4s5ms"), 86400 + 7200 + 180 + 4 + 0.005, accuracy: 1e-9)
        XCTAssertEqual(try DurationParser.parse("30S"), 30) // units are case-insensitive
    }

    func testRejectsMalformed() {
        for bad in ["", "abc", "30", "s", "-5s", "5x", "5 m s", "1m1h", "1h1h", "1..5s", "ms", "5m30", "1e3s", "∞s"] {
            XCTAssertThrowsError(try DurationValue.parse(bad), "'\(bad)' should be rejected") { error in
                guard let e = error as? CoreError, case .invalidArgument(let message, let hint) = e else {
                    return XCTFail("\(error)")
                }
                XCTAssertEqual(e.exitCode, .usage)
                XCTAssertTrue(message.hasPrefix("invalid duration '"), message)
                XCTAssertTrue(message.contains("(expected e.g. 500ms, 30s, 5m, 2h, 7d)"), message)
                XCTAssertNotNil(hint)
            }
        }
        XCTAssertThrowsError(try DurationValue.parse("abc")) { error in
            XCTAssertEqual((error as? CoreError)?.message, "invalid duration 'abc' (expected e.g. 500ms, 30s, 5m, 2h, 7d)")
        }
    }

    func testFormatRoundTrips() throws {
        let cases: [(TimeInterval, String)] = [(0, "0s"), (0.5, "500ms"), (30, "30s"), (90, "1m30s"), (300, "5m"),
                                               (7200, "2h"), (5400, "1h30m"), (604_800, "7d"), (93_784.005, "1d2h3m4s5ms")]
        for (seconds, text) in cases {
            XCTAssertEqual(DurationValue.format(seconds), text)
            XCTAssertEqual(try DurationValue.seconds(text), seconds, accuracy: 1e-6)
        }
        XCTAssertEqual(DurationValue(seconds: 150).description, "2m30s")
    }
}

final class SupportSizeTests: XCTestCase {
    func testParsesDecimalAndBinaryUnits() throws {
        XCTAssertEqual(try SizeValue.bytes("100B"), 100)
        XCTAssertEqual(try SizeValue.bytes("100"), 100)
        XCTAssertEqual(try SizeValue.bytes("512KB"), 512_000)
        XCTAssertEqual(try SizeValue.bytes("10MB"), 10_000_000)
        XCTAssertEqual(try SizeValue.bytes("1GB"), 1_000_000_000)
        XCTAssertEqual(try SizeValue.bytes("1KiB"), 1024)
        XCTAssertEqual(try SizeValue.bytes("10MiB"), 10_485_760)
        XCTAssertEqual(try SizeValue.bytes("1GiB"), 1_073_741_824)
        XCTAssertEqual(try SizeValue.bytes("1.5GiB"), 1_610_612_736)
        XCTAssertEqual(try SizeValue.bytes("2 TiB"), 2 * 1_099_511_627_776)
        XCTAssertEqual(try SizeValue.bytes("10mb"), 10_000_000)
    }

    func testRejectsMalformed() {
        for bad in ["", "MB", "10XB", "-1MB", "1.2.3MB", "ten MB", "10 M B", "1e30GB"] {
            XCTAssertThrowsError(try SizeValue.parse(bad), "'\(bad)'") { error in
                XCTAssertEqual((error as? CoreError)?.exitCode, .usage)
                XCTAssertTrue(((error as? CoreError)?.message ?? "").contains("invalid size"))
            }
        }
    }

    func testFormat() throws {
        XCTAssertEqual(SizeValue.format(0), "0B")
        XCTAssertEqual(SizeValue.format(512), "512B")
        XCTAssertEqual(SizeValue.format(1024), "1KiB")
        XCTAssertEqual(SizeValue.format(1_610_612_736), "1.5GiB")
        XCTAssertEqual(SizeValue.format(10_000_000, binary: false), "10MB")
        XCTAssertEqual(SizeValue.format(1_073_741_824), "1GiB")
        XCTAssertEqual(try SizeValue.bytes(SizeValue.format(10_485_760)), 10_485_760)
    }
}

final class SupportNamesTests: XCTestCase {
    func testValidNames() {
        for good in ["acme", "a", "0", "web-1", "my_app.v2", "a" + String(repeating: "b", count: 62), "9lives"] {
            XCTAssertNoThrow(try Names.validate(good, what: "org"), good)
            XCTAssertTrue(Names.isValid(good))
        }
    }

    func testInvalidNames() {
        let bad = ["", ".", "..", "../x", "a/b", "-a", "_a", ".hidden", "Acme", "aB", "a b", "a..b", "a\nb",
                   "é", "a" + String(repeating: "b", count: 63), "a*", "a$b", "a\u{0}b"]
        for name in bad {
            XCTAssertThrowsError(try Names.validate(name, what: "org"), "'\(name)'") { error in
                guard let e = error as? CoreError, case .invalidArgument(let message, let hint) = e else {
                    return XCTFail("\(error)")
                }
                XCTAssertEqual(e.exitCode, .usage)
                XCTAssertTrue(message.hasPrefix("invalid org name '"), message)
                XCTAssertFalse(message.contains("\n"), "one-line message: \(message)")
                XCTAssertEqual(hint, "names use a-z, 0-9, '.', '_', '-' and start with a letter or digit (max 63)")
            }
        }
        XCTAssertThrowsError(try Names.validate("../x", what: "env")) { error in
            XCTAssertEqual((error as? CoreError)?.message, "invalid env name '../x': '..' is not allowed")
        }
    }

    func testDomains() throws {
        XCTAssertEqual(try Names.validateDomain("Example.COM"), "example.com")
        XCTAssertEqual(try Names.validateDomain("a-b.example.co.uk"), "a-b.example.co.uk")
        XCTAssertEqual(try Names.validateDomain("localhost"), "localhost")
        XCTAssertEqual(try Names.validateDomain("xn--bcher-kva.example"), "xn--bcher-kva.example")
        XCTAssertEqual(try Names.validateDomain("*.example.com", allowWildcard: true), "*.example.com")
        let longLabel = String(repeating: "a", count: 64)
        let tooLong = Array(repeating: String(repeating: "a", count: 63), count: 4).joined(separator: ".") + ".com"
        let bad: [(String, Bool)] = [("", false), ("*.example.com", false), ("*.com", true), ("a.*.com", true),
                                     ("-a.com", false), ("a-.com", false), ("a..com", false), (".a.com", false),
                                     ("a.com.", false), ("a_b.com", false), ("a b.com", false), ("1.2.3.4", false),
                                     (longLabel + ".com", false), (tooLong, false), ("ex\u{e4}mple.com", false),
                                     ("../etc", false), ("*", true), ("**.example.com", true)]
        for (domain, wildcard) in bad {
            XCTAssertThrowsError(try Names.validateDomain(domain, allowWildcard: wildcard), "'\(domain)'") { error in
                XCTAssertEqual((error as? CoreError)?.exitCode, .usage)
                XCTAssertTrue(((error as? CoreError)?.message ?? "").hasPrefix("invalid domain '"))
            }
        }
    }

    func testPrintableEscapesControlCharacters() {
        XCTAssertEqual(Names.printable("a\nb\tc\u{1b}"), "a\\nb\\tc\\u{1b}")
    }
}

final class SupportTimestampTests: XCTestCase {
    func testFormatsUTCSeconds() {
        let date = Date(timeIntervalSince1970: 1_795_280_580.75) // 2026-11-21T17:03:00.75Z
        XCTAssertEqual(Timestamps.iso8601(date), "2026-11-21T17:03:00Z")
        XCTAssertEqual(Timestamps.compact(date), "20261121T170300Z")
        XCTAssertEqual(Timestamps.iso8601(Date(timeIntervalSince1970: 0)), "1970-01-01T00:00:00Z")
    }

    func testParses() {
        XCTAssertEqual(Timestamps.parseISO8601("2026-11-21T17:03:00Z")?.timeIntervalSince1970, 1_795_280_580)
        XCTAssertEqual(Timestamps.parseISO8601("2026-11-21T18:03:00+01:00")?.timeIntervalSince1970, 1_795_280_580)
        XCTAssertEqual(Timestamps.parseISO8601("2026-11-21T17:03:00.5Z")?.timeIntervalSince1970, 1_795_280_580.5)
        XCTAssertEqual(Timestamps.parseISO8601("2024-02-29T00:00:00Z").map(Timestamps.iso8601), "2024-02-29T00:00:00Z")
        for bad in ["", "2026-11-21", "2026-11-21T17:03:00", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z",
                    "2026-11-21T17:03:00Zjunk", "x2026-11-21T17:03:00Z"] {
            XCTAssertNil(Timestamps.parseISO8601(bad), bad)
        }
        let now = Date()
        XCTAssertEqual(Timestamps.parseISO8601(Timestamps.iso8601(now))?.timeIntervalSince1970,
                       now.timeIntervalSince1970.rounded(.down))
    }
}

final class SupportProcessIdentityTests: XCTestCase {
    func testIsAlive() throws {
        XCTAssertTrue(ProcessIdentity.isAlive(pid: getpid()))
        XCTAssertTrue(ProcessIdentity.isAlive(pid: 1)) // EPERM for non-root still counts as alive
        XCTAssertFalse(ProcessIdentity.isAlive(pid: 0))
        XCTAssertFalse(ProcessIdentity.isAlive(pid: -1))
        // A process that has exited and been reaped.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/true")
        try p.run()
        p.waitUntilExit()
        let deadPid = p.processIdentifier
        XCTAssertTrue(ProcTestSupport.waitUntil(timeout: 2) { !ProcessIdentity.isAlive(pid: deadPid) })
    }

    func testStartTime() {
        let mine = ProcessIdentity.startTime(pid: getpid())
        XCTAssertNotNil(mine)
        XCTAssertEqual(ProcessIdentity.startTime(pid: getpid()), mine)
        XCTAssertNil(ProcessIdentity.startTime(pid: -5))
        // The command may contain spaces and parentheses: fields count from the last ')'.
        let line = "4242 (evil) name) (x) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10 18446744073709551615\n"
        XCTAssertEqual(ProcessIdentity.parseStartTime(statLine: line), 987_654)
        XCTAssertNil(ProcessIdentity.parseStartTime(statLine: "garbage"))
        XCTAssertFalse(ProcessIdentity.hostName.isEmpty)
    }
}

final class SupportStateRootTests: XCTestCase {
    /// The state root is absolute with symlinks, `.` and `..` resolved (as Foundation's
    /// standardizingPath did), by realpath(3) when it exists.
    func testStateRootResolution() throws {
        let base = NSTemporaryDirectory() + "tetra-root-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: base + "/real/sub", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: base) }
        let real = String(cString: realpath(base + "/real", nil)!)
        XCTAssertEqual(symlink(base + "/real", base + "/link"), 0)
        func resolve(_ flag: String?, _ env: [String: String] = [:], cwd: String = "/") -> String {
            CoreContext.resolveStateRoot(flag: flag, environment: env, workingDirectory: cwd)
        }
        XCTAssertEqual(resolve(base + "/link"), real)
        XCTAssertEqual(resolve(base + "//link/./sub/.."), real)
        XCTAssertEqual(resolve("link", cwd: base), real, "relative to the working directory")
        XCTAssertEqual(resolve(nil, ["TETRA_DIR": base + "/link/sub"]), real + "/sub")
        XCTAssertEqual(resolve(base + "/link/missing/../x"), real + "/x", "a path that does not exist yet")
        XCTAssertEqual(resolve(nil, ["HOME": base + "/link"]), real + "/.local/share/tetra")
        XCTAssertEqual(resolve(nil, ["XDG_DATA_HOME": base + "/link/", "HOME": "/nowhere"]), real + "/tetra")

        // Paths given to commands (files to read or edit) resolve the same way.
        try "a = 1\n".write(toFile: base + "/real/sub/f.toml", atomically: false, encoding: .utf8)
        XCTAssertEqual(symlink(base + "/real/sub/f.toml", base + "/f-link.toml"), 0)
        let context = CoreContext(environment: ["HOME": base + "/link"], workingDirectory: base + "/link", stateRoot: "/x",
                                  runner: FakeProcessRunner())
        XCTAssertEqual(context.absolutePath("sub/f.toml"), real + "/sub/f.toml")
        XCTAssertEqual(context.absolutePath(base + "/f-link.toml"), real + "/sub/f.toml", "a symlinked file, as before")
        XCTAssertEqual(context.absolutePath("sub/../new.toml"), real + "/new.toml", "not there yet")
        XCTAssertEqual(context.absolutePath("~/sub/f.toml"), base + "/link/sub/f.toml", "~ is HOME, as typed")
    }
}

final class SupportDecimalBytesTests: XCTestCase {
    func testDecimalBytesMatchStringFormatting() {
        for v: Int64 in [0, 7, 9, 10, 99, 100, 1_234_567_890, -1, -10, -987_654_321, .max, .min] {
            var out: [UInt8] = [0x41]
            DecimalBytes.append(v, to: &out)
            XCTAssertEqual(String(decoding: out, as: UTF8.self), "A" + String(v))
        }
    }
}
