import FoundationEssentials

/// The measures a ring keeps, in their order on disk (docs/metrics.md).
public enum MetricMeasure: Int, CaseIterable, Sendable {
    case cpu, memory, threads, openFiles, probeLatency

    /// The JSON key of the measure (`cpu_percent`, ...).
    public var key: String {
        switch self {
        case .cpu: return "cpu_percent"
        case .memory: return "memory_bytes"
        case .threads: return "threads"
        case .openFiles: return "open_files"
        case .probeLatency: return "probe_latency_ms"
        }
    }

    func value(of s: MetricSample) -> Double? {
        switch self {
        case .cpu: return s.cpuPercent
        case .memory: return s.memoryBytes.map { Double($0) } // not Double(bitPattern:)
        case .threads: return s.threads.map { Double($0) }
        case .openFiles: return s.openFiles.map { Double($0) }
        case .probeLatency: return s.probeLatencyMs
        }
    }
}

/// min/avg/max of one measure over the samples of a record, and how many samples had it.
public struct MeasureStat: Sendable, Equatable {
    public var count: UInt16 = 0
    public var min: Float = 0
    public var avg: Float = 0
    public var max: Float = 0

    public init() {}
    public init(count: UInt16, min: Float, avg: Float, max: Float) {
        self.count = count
        self.min = min
        self.avg = avg
        self.max = max
    }

    mutating func fold(_ v: Float) {
        merge(MeasureStat(count: 1, min: v, avg: v, max: v))
    }

    /// Weighted by the samples of each side.
    mutating func merge(_ o: MeasureStat) {
        guard o.count > 0 else { return }
        guard count > 0 else { self = o; return }
        let n = Float(count) + Float(o.count)
        avg = (avg * Float(count) + o.avg * Float(o.count)) / n
        min = Swift.min(min, o.min)
        max = Swift.max(max, o.max)
        count = UInt16(clamping: Int(count) + Int(o.count))
    }
}

/// One record of a metrics ring: a sample (every measure's min = avg = max), or the
/// aggregate of the samples of one minute or one hour (time = the bucket's start).
///
/// On disk, 96 bytes, little-endian:
/// `seq u32 | checksum u32 | time_ms i64 | restarts u32 | state u8 | health u8 | samples u16 |
/// 5 × count u16 | pad u16 | 5 × (min f32, avg f32, max f32)`. The checksum (FNV-1a over every
/// other byte) tells a written record from a torn or never written one.
public struct MetricRecord: Sendable, Equatable {
    public static let size = 96

    /// Position in the ring's sequence (1, 2, ...; 0 is never written): the slot is
    /// `(seq - 1) % capacity`.
    public var seq: UInt32
    public var timeMs: Int64
    public var restarts: UInt32
    public var state: ServiceStateName
    public var health: ServiceHealthName
    /// Samples folded into the record.
    public var samples: UInt16
    public var measures: [MeasureStat]

    public init(seq: UInt32, timeMs: Int64, restarts: UInt32 = 0, state: ServiceStateName = .unknown,
                health: ServiceHealthName = .unknown, samples: UInt16 = 0,
                measures: [MeasureStat] = Array(repeating: MeasureStat(), count: MetricMeasure.allCases.count)) {
        self.seq = seq
        self.timeMs = timeMs
        self.restarts = restarts
        self.state = state
        self.health = health
        self.samples = samples
        self.measures = measures
    }

    /// A record of one sample.
    public init(seq: UInt32, sample: MetricSample) {
        self.init(seq: seq, timeMs: Self.milliseconds(sample.time))
        fold(sample)
    }

    public var time: Date { Date(timeIntervalSince1970: Double(timeMs) / 1000) }

    public static func milliseconds(_ d: Date) -> Int64 { Int64((d.timeIntervalSince1970 * 1000).rounded(.down)) }

    public func stat(_ m: MetricMeasure) -> MeasureStat? {
        let s = measures[m.rawValue]
        return s.count > 0 ? s : nil
    }

    /// Adds a sample: its state, health and restarts are the record's from now on.
    public mutating func fold(_ s: MetricSample) {
        samples = samples &+ 1
        state = s.state
        health = s.health
        restarts = UInt32(clamping: s.restarts)
        for m in MetricMeasure.allCases {
            if let v = m.value(of: s) { measures[m.rawValue].fold(Float(v)) }
        }
    }

    /// Adds a later record (aggregation to a coarser step).
    public mutating func merge(_ o: MetricRecord) {
        samples = UInt16(clamping: Int(samples) + Int(o.samples))
        state = o.state
        health = o.health
        restarts = o.restarts
        for i in measures.indices { measures[i].merge(o.measures[i]) }
    }

    // MARK: - Bytes

    static let states: [ServiceStateName] = [.unknown, .stopped, .starting, .running, .unhealthy, .crashloop, .failed]
    static let healths: [ServiceHealthName] = [.unknown, .none, .healthy, .unhealthy]

    public func encoded() -> [UInt8] {
        var b = [UInt8](repeating: 0, count: Self.size)
        b.withUnsafeMutableBytes { p in
            p.storeBytes(of: seq.littleEndian, toByteOffset: 0, as: UInt32.self)
            p.storeBytes(of: timeMs.littleEndian, toByteOffset: 8, as: Int64.self)
            p.storeBytes(of: restarts.littleEndian, toByteOffset: 16, as: UInt32.self)
            p.storeBytes(of: UInt8(Self.states.firstIndex(of: state) ?? 0), toByteOffset: 20, as: UInt8.self)
            p.storeBytes(of: UInt8(Self.healths.firstIndex(of: health) ?? 0), toByteOffset: 21, as: UInt8.self)
            p.storeBytes(of: samples.littleEndian, toByteOffset: 22, as: UInt16.self)
            for (i, m) in measures.enumerated() {
                p.storeBytes(of: m.count.littleEndian, toByteOffset: 24 + 2 * i, as: UInt16.self)
                for (j, v) in [m.min, m.avg, m.max].enumerated() {
                    p.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: 36 + 12 * i + 4 * j, as: UInt32.self)
                }
            }
        }
        let sum = Self.checksum(b)
        b.withUnsafeMutableBytes { $0.storeBytes(of: sum.littleEndian, toByteOffset: 4, as: UInt32.self) }
        return b
    }

    /// The record in `bytes` (exactly `size` of them), nil when it was never written or is
    /// torn (its checksum does not match).
    public static func decode(_ bytes: UnsafeRawBufferPointer) -> MetricRecord? {
        guard bytes.count == size else { return nil }
        func u32(_ o: Int) -> UInt32 { UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: o, as: UInt32.self)) }
        func u16(_ o: Int) -> UInt16 { UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: o, as: UInt16.self)) }
        let seq = u32(0)
        guard seq != 0, u32(4) == checksum(bytes) else { return nil }
        let stateIndex = Int(bytes[20]), healthIndex = Int(bytes[21])
        var r = MetricRecord(seq: seq, timeMs: Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: Int64.self)),
                             restarts: u32(16),
                             state: stateIndex < states.count ? states[stateIndex] : .unknown,
                             health: healthIndex < healths.count ? healths[healthIndex] : .unknown,
                             samples: u16(22))
        for i in r.measures.indices {
            let f = { (j: Int) in Float(bitPattern: u32(36 + 12 * i + 4 * j)) }
            r.measures[i] = MeasureStat(count: u16(24 + 2 * i), min: f(0), avg: f(1), max: f(2))
        }
        return r
    }

    /// FNV-1a (32 bits) over the record's bytes but the checksum's own four (4..<8).
    static func checksum(_ b: UnsafeRawBufferPointer) -> UInt32 {
        var h: UInt32 = 2_166_136_261
        for i in 0..<4 { h = (h ^ UInt32(b[i])) &* 16_777_619 }
        for i in 8..<size { h = (h ^ UInt32(b[i])) &* 16_777_619 }
        return h
    }

    static func checksum(_ b: [UInt8]) -> UInt32 { b.withUnsafeBytes { checksum($0) } }
}
