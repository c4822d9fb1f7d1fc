import XCTest
@testable import TetraCore
import TetraTestSupport

final class MetricRingTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "metric-ring-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func sample(_ t: TimeInterval, cpu: Double? = 10, memory: UInt64? = 100_000_000, restarts: Int = 0) -> MetricSample {
        MetricSample(time: Date(timeIntervalSince1970: t), state: .running, health: .healthy, cpuPercent: cpu,
                     memoryBytes: memory, threads: 4, openFiles: 9, probeLatencyMs: 2.5, restarts: restarts)
    }

    func testRecordRoundTripsAndChecksumCatchesAnyFlippedByte() throws {
        let r = MetricRecord(seq: 7, sample: sample(1_800_000_000.5))
        let bytes = r.encoded()
        XCTAssertEqual(bytes.count, MetricRecord.size)
        let back = bytes.withUnsafeBytes { MetricRecord.decode($0) }
        XCTAssertEqual(back, r)
        XCTAssertEqual(back?.stat(.memory)?.avg, 100_000_000)
        XCTAssertEqual(back?.stat(.cpu)?.max, 10)
        for i in [0, 5, 9, 20, 40, 95] {
            var torn = bytes
            torn[i] ^= 0x40
            XCTAssertNil(torn.withUnsafeBytes { MetricRecord.decode($0) }, "byte \(i)")
        }
        XCTAssertNil([UInt8](repeating: 0, count: MetricRecord.size).withUnsafeBytes { MetricRecord.decode($0) })
    }

    func testMissingMeasureStaysMissing() throws {
        let r = MetricRecord(seq: 1, sample: sample(1000, cpu: nil, memory: nil))
        XCTAssertNil(r.stat(.cpu))
        XCTAssertNil(r.stat(.memory))
        XCTAssertEqual(r.stat(.threads)?.avg, 4)
    }

    func testRingFileHasItsFixedSizeAndWrapsAround() throws {
        let ring = MetricRing(path: dir + "/r.ring", capacity: 5, stepSeconds: 0)
        let w = try MetricRingWriter(ring) { XCTFail($0) }
        for i in 1...12 { w.write(MetricRecord(seq: UInt32(i), sample: sample(Double(i)))) }
        let size = try FileManager.default.attributesOfItem(atPath: ring.path)[.size] as? Int
        XCTAssertEqual(size, MetricRing.fileSize(capacity: 5))
        let records = try ring.read()
        XCTAssertEqual(records.map(\.seq), [8, 9, 10, 11, 12])
        XCTAssertEqual(records.map(\.timeMs), [8000, 9000, 10000, 11000, 12000])
        // A writer opened again continues the sequence.
        let again = try MetricRingWriter(ring) { XCTFail($0) }
        XCTAssertEqual(again.last?.seq, 12)
    }

    func testTornLastRecordIsIgnored() throws {
        let ring = MetricRing(path: dir + "/r.ring", capacity: 10, stepSeconds: 0)
        let w = try MetricRingWriter(ring) { XCTFail($0) }
        for i in 1...4 { w.write(MetricRecord(seq: UInt32(i), sample: sample(Double(i)))) }
        // Half of record 4 overwritten with garbage, as a write cut short would leave it.
        let fd = open(ring.path, O_WRONLY)
        let junk = [UInt8](repeating: 0xAB, count: 40)
        XCTAssertEqual(pwrite(fd, junk, junk.count, off_t(MetricRing.headerSize + 3 * MetricRecord.size + 50)), 40)
        close(fd)
        XCTAssertEqual(try ring.read().map(\.seq), [1, 2, 3])
        let again = try MetricRingWriter(ring) { XCTFail($0) }
        XCTAssertEqual(again.last?.seq, 3)
    }

    func testCorruptHeaderIsNamedNotFatal() throws {
        let ring = MetricRing(path: dir + "/r.ring", capacity: 10, stepSeconds: 0)
        try Data("this is not a ring at all, just some text that is long enough for a header.....".utf8).write(to: URL(fileURLWithPath: ring.path))
        XCTAssertThrowsError(try ring.read()) { e in
            XCTAssertTrue("\(e)".contains(ring.path), "\(e)")
            XCTAssertTrue("\(e)".contains("not a metrics ring"), "\(e)")
        }
        var warnings: [String] = []
        let w = try MetricRingWriter(ring) { warnings.append($0) }
        XCTAssertEqual(warnings.count, 1)
        XCTAssertTrue(warnings[0].contains(ring.path + ".corrupt"), warnings[0])
        w.write(MetricRecord(seq: 1, sample: sample(1)))
        XCTAssertEqual(try ring.read().count, 1)
        // Another shape (capacity) is refused by name too.
        XCTAssertThrowsError(try MetricRing(path: ring.path, capacity: 11, stepSeconds: 0).read())
    }

    func testSymlinkIsRefused() throws {
        let target = dir + "/target"
        FileManager.default.createFile(atPath: target, contents: Data())
        try FileManager.default.createSymbolicLink(atPath: dir + "/link.ring", withDestinationPath: target)
        XCTAssertThrowsError(try MetricRingWriter(MetricRing(path: dir + "/link.ring", capacity: 3, stepSeconds: 0)) { _ in })
    }

    func testRecorderAggregatesMinutesAndHours() throws {
        let store = MetricsStore(directory: dir + "/svc")
        let rec = try MetricsRecorder(store) { XCTFail($0) }
        let t0 = 1_800_000_000.0 // a whole hour
        XCTAssertEqual(Int(t0) % 3600, 0)
        // 12 samples at 10 s: two minutes; CPU 0..110.
        for i in 0..<12 { rec.record(sample(t0 + Double(i) * 10, cpu: Double(i) * 10, restarts: i / 6)) }
        let minutes = try store.ring(.minute).read()
        XCTAssertEqual(minutes.count, 2)
        XCTAssertEqual(minutes[0].samples, 6)
        XCTAssertEqual(minutes[0].stat(.cpu)?.min, 0)
        XCTAssertEqual(minutes[0].stat(.cpu)?.max, 50)
        XCTAssertEqual(minutes[0].stat(.cpu)?.avg ?? 0, 25, accuracy: 0.001)
        XCTAssertEqual(minutes[1].stat(.cpu)?.avg ?? 0, 85, accuracy: 0.001)
        XCTAssertEqual(minutes[1].restarts, 1)
        XCTAssertEqual(minutes[1].timeMs, Int64(t0 + 60) * 1000)
        let hours = try store.ring(.hour).read()
        XCTAssertEqual(hours.count, 1)
        XCTAssertEqual(hours[0].samples, 12)
        XCTAssertEqual(hours[0].stat(.cpu)?.avg ?? 0, 55, accuracy: 0.001)
        XCTAssertEqual(try store.ring(.sample).read().count, 12)

        // A recorder opened again (a new supervisor) keeps folding into the same minute.
        let again = try MetricsRecorder(store) { XCTFail($0) }
        again.record(sample(t0 + 115, cpu: 200))
        let after = try store.ring(.minute).read()
        XCTAssertEqual(after.count, 2)
        XCTAssertEqual(after[1].samples, 7)
        XCTAssertEqual(after[1].stat(.cpu)?.max, 200)

        // --step merges points; --since picks the ring.
        let merged = MetricsStore.aggregate(minutes, step: 3600)
        XCTAssertEqual(merged.count, 1)
        XCTAssertEqual(merged[0].stat(.cpu)?.avg ?? 0, 55, accuracy: 0.001)
        XCTAssertEqual(merged[0].stat(.cpu)?.max, 110)
        XCTAssertEqual(MetricsStore.resolution(for: 600), .sample)
        XCTAssertEqual(MetricsStore.resolution(for: 86400), .minute)
        XCTAssertEqual(MetricsStore.resolution(for: 90 * 86400), .hour)
        let series = store.series(org: "o", service: "svc", since: 3600, step: 60, now: Date(timeIntervalSince1970: t0 + 120))
        XCTAssertEqual(series.resolution, .sample)
        XCTAssertEqual(series.points.count, 2)
        XCTAssertEqual(series.step_seconds, 60)
    }

    func testDiskPerServiceIsTheDocumentedBound() throws {
        XCTAssertEqual(MetricsStore.bytesPerService, 1_520_832)
        let store = MetricsStore(directory: dir + "/svc")
        _ = try MetricsRecorder(store) { XCTFail($0) }
        let total = try ["samples", "minutes", "hours"].map {
            try FileManager.default.attributesOfItem(atPath: store.directory + "/\($0).ring")[.size] as? Int ?? 0
        }.reduce(0, +)
        XCTAssertEqual(total, MetricsStore.bytesPerService)
    }

    func testPercentileAndSparkline() {
        XCTAssertEqual(MetricsStore.percentile([5, 1, 3, 2, 4], 50), 3)
        XCTAssertEqual(MetricsStore.percentile(Array(1...100).map(Double.init), 95), 95)
        XCTAssertNil(MetricsStore.percentile([], 50))
    }
}
