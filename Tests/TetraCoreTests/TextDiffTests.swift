import Foundation
import XCTest
@testable import TetraCore

/// `TextDiff.unified` against GNU `diff -u` (the hunks, headers aside).
final class TextDiffTests: XCTestCase {
    func hunks(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.hasPrefix("---") && !$0.hasPrefix("+++") }
            .joined(separator: "\n")
    }

    func gnuDiff(_ old: String?, _ new: String?) throws -> String {
        let dir = NSTemporaryDirectory() + "tetra-textdiff-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func file(_ name: String, _ content: String?) throws -> String {
            guard let content else { return "/dev/null" }
            try content.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8)
            return dir + "/" + name
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/diff")
        p.arguments = ["-u", try file("a", old), try file("b", new)]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let out = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: out, as: UTF8.self)
    }

    func testHunksMatchDiffU() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/diff") else {
            if ProcessInfo.processInfo.environment["CI"] == "true" { XCTFail("diff is not installed") }
            throw XCTSkip("diff is not installed")
        }
        let cases: [(String?, String?)] = [
            ("a\nb\nc\nd\n", "a\nB\nc\nd\n"),           // a changed line
            ("x\ny", "x\nz"),                           // no newline at the end, both
            ("x\ny\n", "x\ny"),                         // the newline removed
            ("x\ny", "x\ny\nz\n"),                      // lines added after a last line without newline
            (nil, "new\n"),                             // an added file
            ("gone\n", nil),                            // a removed file
            ("one\ntwo\n", nil),
            ("1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", "1\n2\n3\n4\n5\n6\n7\n8\n9\nten\n"),
        ]
        for (old, new) in cases {
            let ours = TextDiff.unified(old: old ?? "", new: new ?? "", oldName: "a", newName: "b")
            XCTAssertEqual(hunks(ours), hunks(try gnuDiff(old, new)), "\(String(describing: old)) -> \(String(describing: new))")
        }
    }
}
