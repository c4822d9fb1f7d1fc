import Foundation
import XCTest
@testable import TetraCore

/// `LocalFiles.removeTree` (a release's prune, a partial release's clean-up, scratch
/// directories): removes files with `unlinkat` relative to their directory, recurses into
/// directories (also read-only ones), and never follows a symlink.
final class DeployRemoveTreeTests: XCTestCase {
    var base = ""

    override func setUpWithError() throws {
        base = NSTemporaryDirectory() + "removetree-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        addTeardownBlock { [base] in
            _ = chmod(base + "/tree/ro", 0o755)
            try? FileManager.default.removeItem(atPath: base)
        }
    }

    func write(_ rel: String, _ text: String = "x") throws {
        let path = base + "/" + rel
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    func testRemovesNestedTreeWithReadOnlyDirectoryAndKeepsSymlinkTargets() throws {
        for i in 0..<200 { try write("tree/f\(i).txt", "file \(i)") }
        try write("tree/a/b/c/deep.txt")
        try write("tree/ro/inside.txt")
        try write("tree/ro/sub/more.txt")
        try write("outside/keep.txt", "keep me")
        try write("outside/dir/keep2.txt", "keep me too")
        XCTAssertEqual(symlink(base + "/outside/keep.txt", base + "/tree/link-to-file"), 0)
        XCTAssertEqual(symlink(base + "/outside/dir", base + "/tree/a/link-to-dir"), 0)
        XCTAssertEqual(symlink(base + "/nowhere", base + "/tree/dangling"), 0)
        XCTAssertEqual(mkfifo(base + "/tree/a/fifo", 0o600), 0)
        XCTAssertEqual(chmod(base + "/tree/ro/sub", 0o500), 0)
        XCTAssertEqual(chmod(base + "/tree/ro", 0o500), 0)

        try LocalFiles.removeTree(base + "/tree")

        XCTAssertFalse(LocalFiles.exists(base + "/tree"))
        XCTAssertEqual(try String(contentsOfFile: base + "/outside/keep.txt", encoding: .utf8), "keep me")
        XCTAssertEqual(try String(contentsOfFile: base + "/outside/dir/keep2.txt", encoding: .utf8), "keep me too")
    }

    func testMissingPathAndSingleFileAndSymlinkRoot() throws {
        XCTAssertNoThrow(try LocalFiles.removeTree(base + "/missing"))
        try write("one.txt")
        try LocalFiles.removeTree(base + "/one.txt")
        XCTAssertFalse(LocalFiles.exists(base + "/one.txt"))
        try write("target/kept.txt")
        XCTAssertEqual(symlink(base + "/target", base + "/link"), 0)
        try LocalFiles.removeTree(base + "/link")
        XCTAssertFalse(LocalFiles.exists(base + "/link"))
        XCTAssertTrue(LocalFiles.exists(base + "/target/kept.txt"))
    }

    /// The recycled-release check trusts readdir's inode numbers except on overlayfs.
    func testOverlayProbeAgreesWithStatF() throws {
        XCTAssertTrue(LocalTransport.isOverlay("/nonexistent/path/for/tetra"), "unknown counts as overlay")
        for path in [NSTemporaryDirectory(), "/"] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/stat")
            p.arguments = ["-f", "-c", "%T", path]
            let pipe = Pipe()
            p.standardOutput = pipe
            try p.run()
            let type = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            p.waitUntilExit()
            XCTAssertEqual(LocalTransport.isOverlay(path), type == "overlayfs", "\(path) is \(type)")
        }
    }

    /// The template pre-check's listing: regular files with the suffix, in path order, by
    /// readdir type (no stat), symlinks skipped.
    func testFilesEndingWithASuffix() throws {
        let root = NSTemporaryDirectory() + "tetra-files-under-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: root) }
        for path in ["b.tmpl", "a.conf", "sub/deep/c.tmpl", "sub/x.tmpl.bak", "sub-two/d.tmpl", ".tmpl"] {
            let full = root + "/" + path
            try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try "x".write(toFile: full, atomically: false, encoding: .utf8)
        }
        try FileManager.default.createDirectory(atPath: root + "/dir.tmpl", withIntermediateDirectories: true)
        symlink(root + "/b.tmpl", root + "/link.tmpl")
        var seen: [String] = []
        try TreeWalker.files(under: root, endingWith: ".tmpl") { seen.append($0) }
        XCTAssertEqual(seen, [".tmpl", "b.tmpl", "sub/deep/c.tmpl", "sub-two/d.tmpl"])
    }
}
