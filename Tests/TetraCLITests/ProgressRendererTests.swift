import Foundation
import XCTest
@testable import TetraCLI
import TetraCore

/// A clock the test moves by hand.
final class FakeClock: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Double
    init(_ start: Double = 100) { value = start }
    var now: Double { lock.lock(); defer { lock.unlock() }; return value }
    func advance(_ seconds: Double) { lock.lock(); value += seconds; lock.unlock() }
    var read: @Sendable () -> Double { { [self] in now } }
}

final class ProgressRendererTests: XCTestCase {
    static let erase = "\r\u{1B}[2K"

    func live(_ sink: OutputSink, _ clock: FakeClock, columns: Int? = nil) -> ProgressRenderer {
        ProgressRenderer(sink: sink, mode: .live, clock: clock.read, columns: { columns })
    }

    func redraws(_ text: String) -> Int { text.components(separatedBy: Self.erase).count - 1 }

    func testSizesInHumanUnitsNeverRawByteCounts() {
        XCTAssertEqual(ProgressFormat.bytes(0), "0 B")
        XCTAssertEqual(ProgressFormat.bytes(512), "512 B")
        XCTAssertEqual(ProgressFormat.bytes(1_000), "1 KB")
        XCTAssertEqual(ProgressFormat.bytes(30_240_000), "30.2 MB")
        XCTAssertEqual(ProgressFormat.bytes(306_400_000), "306 MB")
        XCTAssertEqual(ProgressFormat.bytes(999_600_000), "1 GB")
        XCTAssertEqual(ProgressFormat.bytes(1_234_567_890), "1.2 GB")
        XCTAssertEqual(ProgressFormat.elapsed(7.9), "0:07")
        XCTAssertEqual(ProgressFormat.elapsed(725), "12:05")
        XCTAssertEqual(ProgressFormat.elapsed(3723), "1:02:03")
    }

    func testModeFollowsTheTerminalNoColorDumbQuietAndVerbose() {
        XCTAssertEqual(ProgressRenderer.mode(stderrIsTerminal: true, quiet: false, verbose: false, environment: [:]), .live)
        XCTAssertEqual(ProgressRenderer.mode(stderrIsTerminal: false, quiet: false, verbose: false, environment: [:]), .lines)
        XCTAssertEqual(ProgressRenderer.mode(stderrIsTerminal: true, quiet: true, verbose: false, environment: [:]), .quiet)
        XCTAssertEqual(ProgressRenderer.mode(stderrIsTerminal: true, quiet: false, verbose: false, environment: ["NO_COLOR": "1"]), .lines)
        XCTAssertEqual(ProgressRenderer.mode(stderrIsTerminal: true, quiet: false, verbose: false, environment: ["TERM": "dumb"]), .lines)
        XCTAssertEqual(ProgressRenderer.mode(stderrIsTerminal: true, quiet: false, verbose: true, environment: [:]), .lines)
        // Only the live line shows counts: the core asks rsync and git for theirs only then.
        let shows = [ProgressRenderer.Mode.live, .lines, .quiet].map { ProgressRenderer(sink: OutputSink(), mode: $0).showsCounts }
        XCTAssertEqual(shows, [true, false, false])
        XCTAssertFalse(SilentProgress().showsCounts)
    }

    func testOffATerminalOnePlainLinePerPhaseNeverPerFile() {
        let sink = OutputSink()
        let p = ProgressRenderer(sink: sink, mode: .lines, clock: FakeClock().read)
        p.step("locking /srv/app")
        p.phase("sending to /srv/app", files: 3000, bytes: 30_240_000)
        for _ in 0..<3000 { p.advance(files: 1, bytes: 10_080) }
        p.expect(files: nil, bytes: 1)
        p.step("switching current to 20261205T190000Z")
        p.finish()
        XCTAssertEqual(sink.captured, """
            tetra: locking /srv/app
            tetra: sending to /srv/app (3000 files, 30.2 MB)
            tetra: switching current to 20261205T190000Z

            """)
    }

    func testQuietShowsOnlyWarnings() {
        let sink = OutputSink()
        let p = ProgressRenderer(sink: sink, mode: .quiet, clock: FakeClock().read)
        p.phase("sending", files: 2, bytes: 2)
        p.advance(files: 2, bytes: 2)
        p.tick()
        p.finish()
        XCTAssertEqual(sink.captured, "")
        p.warn("still shown")
        XCTAssertEqual(sink.captured, "tetra: warning: still shown\n")
    }

    func testLiveLineShowsPhaseCountsOfTotalRateAndElapsed() {
        let clock = FakeClock()
        let p = live(OutputSink(), clock)
        clock.advance(3) // the command ran 3 s before this phase
        p.phase("sending to /srv/app", files: 3000, bytes: 30_200_000)
        XCTAssertEqual(p.line(at: clock.now), "sending to /srv/app  0/3000 files  0 B/30.2 MB  0:03")
        p.advance(files: 1204, bytes: 12_100_000)
        clock.advance(2)
        XCTAssertEqual(p.line(at: clock.now), "sending to /srv/app  1204/3000 files  12.1 MB/30.2 MB  6.1 MB/s  0:05")
        p.phase("backing up volume data", files: nil, bytes: nil)
        XCTAssertEqual(p.line(at: clock.now), "backing up volume data  0:05")
        p.advance(files: 0, bytes: 306_400_000)
        clock.advance(61)
        XCTAssertEqual(p.line(at: clock.now), "backing up volume data  306 MB  5 MB/s  1:06")
        p.phase("checking", files: nil, bytes: nil)
        p.advance(files: 50, bytes: 0)
        clock.advance(1)
        XCTAssertEqual(p.line(at: clock.now), "checking  50 files  50 files/s  1:07")
    }

    func testLiveLineRedrawsInPlaceAtMostTenTimesASecond() {
        let clock = FakeClock()
        let sink = OutputSink()
        let p = live(sink, clock)
        p.phase("sending", files: 1000, bytes: nil)
        XCTAssertEqual(redraws(sink.captured), 1, "a phase is drawn at once")
        for _ in 0..<500 { p.advance(files: 1, bytes: 0) }
        XCTAssertEqual(redraws(sink.captured), 1, "no redraw within 0.1 s")
        clock.advance(0.05)
        p.advance(files: 1, bytes: 0)
        XCTAssertEqual(redraws(sink.captured), 1)
        clock.advance(0.05)
        p.advance(files: 1, bytes: 0)
        XCTAssertEqual(redraws(sink.captured), 2)
        // One simulated second of an advance every millisecond: at most 10 redraws.
        for _ in 0..<1000 {
            clock.advance(0.001)
            p.advance(files: 0, bytes: 0)
        }
        XCTAssertLessThanOrEqual(redraws(sink.captured), 2 + 10)
        XCTAssertGreaterThanOrEqual(redraws(sink.captured), 2 + 9)
        XCTAssertFalse(sink.captured.contains("\n"), "the line is redrawn, never scrolled")
        XCTAssertTrue(sink.captured.hasSuffix("sending  502/1000 files  456 files/s  0:01"), sink.captured)
    }

    func testTickDrawsAHeldBackAdvanceAndMovesTheElapsedTime() {
        let clock = FakeClock()
        let sink = OutputSink()
        let p = live(sink, clock)
        p.phase("fetching", files: nil, bytes: nil)
        p.advance(files: 0, bytes: 4_000)
        p.tick()
        XCTAssertEqual(redraws(sink.captured), 1, "held back: within the interval")
        clock.advance(0.1)
        p.tick()
        XCTAssertEqual(redraws(sink.captured), 2, "the held-back advance is drawn")
        XCTAssertTrue(sink.captured.hasSuffix("fetching  4 KB  0:00"), sink.captured)
        clock.advance(0.5)
        p.tick()
        XCTAssertEqual(redraws(sink.captured), 2, "nothing new within a second")
        clock.advance(0.5)
        p.tick()
        XCTAssertEqual(redraws(sink.captured), 3)
        XCTAssertTrue(sink.captured.hasSuffix("fetching  4 KB  3.6 KB/s  0:01"), sink.captured)
    }

    func testLineFitsTheTerminalShorteningThePhase() {
        let clock = FakeClock()
        let p = live(OutputSink(), clock, columns: 40)
        p.phase("sending to /srv/a/very/long/path/of/the/target/release", files: 3000, bytes: nil)
        let line = p.line(at: clock.now)
        XCTAssertEqual(line.count, 39)
        XCTAssertTrue(line.hasSuffix("…  0/3000 files  0:00"), line)
        let narrow = live(OutputSink(), clock, columns: 12)
        narrow.phase("sending", files: 3000, bytes: nil)
        XCTAssertEqual(narrow.line(at: clock.now).count, 11)
    }

    func testWarningGoesOnItsOwnLineAndTheLiveLineComesBack() {
        let clock = FakeClock()
        let sink = OutputSink()
        let p = live(sink, clock)
        p.phase("sending", files: 2, bytes: nil)
        p.warn("could not prune release x")
        XCTAssertEqual(sink.captured, Self.erase + "sending  0/2 files  0:00" + Self.erase
                       + "tetra: warning: could not prune release x\n" + Self.erase + "sending  0/2 files  0:00")
    }

    func testFinishLeavesTheTerminalCleanAndNothingIsDrawnAfter() {
        let clock = FakeClock()
        let sink = OutputSink()
        let p = live(sink, clock)
        p.phase("sending", files: 2, bytes: nil)
        p.finish()
        XCTAssertTrue(sink.captured.hasSuffix("0:00" + Self.erase))
        let before = sink.captured
        clock.advance(5)
        p.advance(files: 1, bytes: 1)
        p.tick()
        p.phase("late", files: nil, bytes: nil)
        p.finish()
        XCTAssertEqual(sink.captured, before)
    }

    func testAnInterruptBeforeExitErasesTheLine() {
        let sink = OutputSink()
        let p = live(sink, FakeClock())
        let flag = InterruptFlag()
        flag.beforeExit { p.finish() }
        p.phase("sending", files: 2, bytes: nil)
        flag.runExitHandlers()
        XCTAssertTrue(sink.captured.hasSuffix(Self.erase))
    }
}
