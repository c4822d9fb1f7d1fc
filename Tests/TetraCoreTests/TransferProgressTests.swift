import Foundation
import XCTest
@testable import TetraCore
import TetraTestSupport

/// Records progress events as the live line would see them: phases with their totals, and
/// the sums of the increments.
final class CountingProgress: ProgressReporter, @unchecked Sendable {
    private let lock = NSLock()
    private(set) var phases: [(name: String, files: Int?, bytes: Int64?)] = []
    private(set) var files = 0
    private(set) var bytes: Int64 = 0
    private(set) var advances = 0
    private(set) var expected: [(files: Int?, bytes: Int64?)] = []
    func phase(_ name: String, files: Int?, bytes: Int64?) { lock.lock(); phases.append((name, files, bytes)); lock.unlock() }
    func expect(files: Int?, bytes: Int64?) { lock.lock(); expected.append((files, bytes)); lock.unlock() }
    func advance(files: Int, bytes: Int64) {
        lock.lock()
        self.files += files
        self.bytes += bytes
        advances += 1
        lock.unlock()
    }
    func warn(_ message: String) {}
}

final class TransferProgressTests: XCTestCase {
    func chunk(_ text: String, _ stream: OutputChunk.Stream = .stdout) -> OutputChunk {
        OutputChunk(stream: stream, data: Data(text.utf8))
    }

    func testRsyncUploadCountsCheckedFilesAndBytesOneAdvancePerChunk() {
        let p = CountingProgress()
        let rsync = RsyncProgress(progress: p, files: .checked(uncounted: 2)) // "." and one directory
        rsync.feed(chunk("\r         32,768   3%    0.00kB/s    0:00:00  \r         50,000   4%   16.43MB/s    0:00:00 (xfr#1, to-"))
        XCTAssertEqual(p.bytes, 32_768, "a line counts once it is complete")
        XCTAssertEqual(p.files, 0)
        rsync.feed(chunk("chk=12/23)\r        950,010 100%  300.00MB/s    0:00:00 (xfr#21, to-chk=0/23)\n\nNumber of files: 23 (reg: 21, dir: 2)\nTotal bytes sent: 1,234\n"))
        XCTAssertEqual(p.files, 21, "every file checked, the directories not counted")
        XCTAssertEqual(p.bytes, 950_010, "the stats report (bytes sent over the wire) is not a progress line")
        XCTAssertEqual(p.advances, 2)
        rsync.feed(chunk("nothing new\n"))
        XCTAssertEqual(p.advances, 2, "no advance without growth")
        XCTAssertEqual(rsync.report, "\nNumber of files: 23 (reg: 21, dir: 2)\nTotal bytes sent: 1,234\nnothing new\n",
                       "what is not progress is kept for the stats")
    }

    func testRsyncUploadCountsNeverRunAheadWhileTheListGrows() {
        let p = CountingProgress()
        let rsync = RsyncProgress(progress: p, files: .checked(uncounted: 5))
        rsync.feed(chunk("  1,000  10%  1.00MB/s  0:00:00 (xfr#1, ir-chk=1000/1003)\r"))
        XCTAssertEqual(p.files, 0, "3 entries checked, 5 of the entries are directories: nothing is claimed")
        rsync.feed(chunk("  2,000  20%  1.00MB/s  0:00:00 (xfr#2, ir-chk=990/1020)\r"))
        XCTAssertEqual(p.files, 25)
    }

    func testRsyncFetchCountsTransferredFiles() {
        let p = CountingProgress()
        let rsync = RsyncProgress(progress: p, files: .transferred)
        rsync.feed(chunk("  4,096  50%  1.00MB/s  0:00:00 (xfr#3, to-chk=10/20)\r  8,192 100%  1.00MB/s  0:00:00 (xfr#7, to-chk=0/20)\n"))
        XCTAssertEqual(p.files, 7)
        XCTAssertEqual(p.bytes, 8_192)
        rsync.feed(chunk("  9,999 100% error text on stderr\n", .stderr))
        XCTAssertEqual(p.bytes, 8_192, "stderr is not read")
    }

    func testRsyncProgressNeedsRsync31() {
        for (version, expected) in [("3.0.9", nil), ("3.1.0", "--info=progress2"), ("3.2.7", "--info=progress2"), ("2.6.9", nil)] {
            let fake = FakeProcessRunner()
            fake.expect("rsync", ["--version"], stdout: "rsync  version \(version)  protocol version 31\n")
            XCTAssertEqual(RsyncProgress.argument(runner: fake, program: "rsync"), expected, version)
        }
        let broken = FakeProcessRunner()
        broken.expect("rsync", ["--version"], stdout: "", stderr: "nope", status: 1)
        XCTAssertNil(RsyncProgress.argument(runner: broken, program: "rsync"))
    }

    func testGitFetchBytesObjectsAndAQuietStderr() {
        let p = CountingProgress()
        let git = GitFetchProgress(progress: p)
        git.feed(chunk("remote: Counting objects: 100% (4/4), done.\nReceiving objects:  45% (450/1000)\rReceiving objects:  46% (460/1000), 1.20 MiB | 512.00 KiB/s\r", .stderr))
        XCTAssertEqual(p.bytes, 1_258_291)
        git.feed(chunk("Receiving objects: 100% (1000/1000), 2.50 MiB | 1.00 MiB/s, done.\nResolving deltas: 100% (3/3), done.\nfatal: x\n", .stderr))
        XCTAssertEqual(p.bytes, 2_621_440)
        XCTAssertEqual(p.files, 0, "objects are not files")
        XCTAssertEqual(git.summary, "received 1000 of 1000 objects (2.6 MB)")
        let kept = String(decoding: git.stderr, as: UTF8.self)
        XCTAssertEqual(kept, "remote: Counting objects: 100% (4/4), done.\nReceiving objects: 100% (1000/1000), 2.50 MiB | 1.00 MiB/s, done.\nResolving deltas: 100% (3/3), done.\nfatal: x\n")
    }

    func testGitFetchWithoutCountsHasNoSummary() {
        let git = GitFetchProgress(progress: CountingProgress())
        git.feed(chunk("From /tmp/o\n   aec5153..d9e2b02  master     -> origin/master\n", .stderr))
        XCTAssertNil(git.summary)
    }
}
