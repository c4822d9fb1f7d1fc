import FoundationEssentials

/// A TOML date-time in one of the four TOML kinds. Components are kept exactly as
/// written (fractional seconds as their digit string) so that nothing is lost.
public struct TOMLDateTime: Sendable, Equatable, Hashable {
    public enum Kind: String, Sendable, Equatable, Hashable {
        case offsetDateTime = "datetime"
        case localDateTime = "datetime-local"
        case localDate = "date-local"
        case localTime = "time-local"
    }

    public struct Date: Sendable, Equatable, Hashable {
        public var year: Int, month: Int, day: Int
        public init(year: Int, month: Int, day: Int) { self.year = year; self.month = month; self.day = day }
    }

    public struct Time: Sendable, Equatable, Hashable {
        public var hour: Int, minute: Int, second: Int
        /// Digits after the decimal point, as written ("" when absent).
        public var fraction: String
        public init(hour: Int, minute: Int, second: Int, fraction: String = "") {
            self.hour = hour; self.minute = minute; self.second = second; self.fraction = fraction
        }
    }

    public var date: Date?
    public var time: Time?
    /// Offset in minutes east of UTC; nil for local kinds. `Z` is 0.
    public var offsetMinutes: Int?

    public init(date: Date?, time: Time?, offsetMinutes: Int?) {
        self.date = date; self.time = time; self.offsetMinutes = offsetMinutes
    }

    public var kind: Kind {
        switch (date != nil, time != nil, offsetMinutes != nil) {
        case (true, true, true): return .offsetDateTime
        case (true, true, false): return .localDateTime
        case (true, false, _): return .localDate
        default: return .localTime
        }
    }
}

/// An ordered TOML table: keys keep their insertion (document) order.
///
/// Stored as one array of key/value entries; tables with more than `indexThreshold`
/// keys also keep a hash index (small tables are searched linearly, which is faster and
/// smaller than hashing).
public struct TOMLTable: Sendable, Equatable, Sequence {
    struct Entry: Sendable {
        var key: String
        var value: TOMLValue
    }

    private var entries: [Entry] = []
    private var index: _TOMLKeyIndex? = nil
    static let indexThreshold = 8

    public init() {}
    public init(_ pairs: [(String, TOMLValue)]) {
        for (k, v) in pairs { self[k] = v }
    }

    /// The keys in document order.
    public var keys: [String] { entries.map(\.key) }
    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }

    @inline(__always)
    func slot(of key: String) -> Int? {
        if let index { return index.find(key, hash: _TOMLKeyIndex.hash(key), in: entries) }
        var i = 0
        let n = entries.count
        while i < n {
            if entries[i].key == key { return i }
            i += 1
        }
        return nil
    }

    private mutating func rebuildIndex() {
        index = entries.count > Self.indexThreshold ? _TOMLKeyIndex(entries: entries) : nil
    }

    public subscript(key: String) -> TOMLValue? {
        get {
            guard let i = slot(of: key) else { return nil }
            return entries[i].value
        }
        set {
            if let i = slot(of: key) {
                if let newValue {
                    entries[i].value = newValue
                } else {
                    entries.remove(at: i)
                    if index != nil { rebuildIndex() }
                }
            } else if let newValue {
                entries.append(Entry(key: key, value: newValue))
                if index != nil {
                    index!.insert(hash: _TOMLKeyIndex.hash(key), position: entries.count - 1, in: entries)
                } else if entries.count > Self.indexThreshold {
                    rebuildIndex()
                }
            }
        }
    }

    public func makeIterator() -> AnyIterator<(key: String, value: TOMLValue)> {
        var i = 0
        let entries = self.entries
        return AnyIterator {
            guard i < entries.count else { return nil }
            defer { i += 1 }
            return (entries[i].key, entries[i].value)
        }
    }

    public static func == (a: TOMLTable, b: TOMLTable) -> Bool {
        // Equality of TOML tables does not depend on key order.
        guard a.entries.count == b.entries.count else { return false }
        for e in a.entries {
            guard let j = b.slot(of: e.key), b.entries[j].value == e.value else { return false }
        }
        return true
    }
}

/// A TOML value.
public enum TOMLValue: Sendable, Equatable {
    case string(String)
    case integer(Int64)
    case float(Double)
    case boolean(Bool)
    indirect case datetime(TOMLDateTime)
    case array([TOMLValue])
    case table(TOMLTable)

    /// The TOML type name used in messages ("expected an integer, found a string").
    public var typeName: String {
        switch self {
        case .string: return "string"
        case .integer: return "integer"
        case .float: return "float"
        case .boolean: return "boolean"
        case .datetime(let d): return d.kind == .offsetDateTime ? "date-time" : d.kind.rawValue
        case .array: return "array"
        case .table: return "table"
        }
    }

    public static func == (a: TOMLValue, b: TOMLValue) -> Bool {
        switch (a, b) {
        case (.string(let x), .string(let y)): return x == y
        case (.integer(let x), .integer(let y)): return x == y
        case (.float(let x), .float(let y)): return x == y || (x.isNaN && y.isNaN)
        case (.boolean(let x), .boolean(let y)): return x == y
        case (.datetime(let x), .datetime(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        case (.table(let x), .table(let y)): return x == y
        default: return false
        }
    }

    public var stringValue: String? { if case .string(let s) = self { return s }; return nil }
    public var integerValue: Int64? { if case .integer(let i) = self { return i }; return nil }
    public var boolValue: Bool? { if case .boolean(let b) = self { return b }; return nil }
    public var arrayValue: [TOMLValue]? { if case .array(let a) = self { return a }; return nil }
    public var tableValue: TOMLTable? { if case .table(let t) = self { return t }; return nil }
}

// MARK: - Additions (helpers; the API above is unchanged)

extension TOMLTable {
    /// Builds a table from entries with unique keys; `index` may be passed when already built.
    init(_entries entries: [Entry], index: _TOMLKeyIndex?) {
        self.entries = entries
        if let index, entries.count > Self.indexThreshold {
            self.index = index
        } else {
            rebuildIndex()
        }
    }

    /// Visits keys and values in order (faster than the iterator).
    @inline(__always)
    func forEachEntry(_ body: (String, TOMLValue) throws -> Void) rethrows {
        for e in entries { try body(e.key, e.value) }
    }

    /// The entries, for fast internal iteration.
    var _entries: [Entry] { entries }
    /// The key index (tables with more than `indexThreshold` keys).
    var _index: _TOMLKeyIndex? { index }

    /// The value at a key path (`["environments", "dev", "target"]`), descending into tables.
    public subscript(path path: [String]) -> TOMLValue? {
        guard let first = path.first else { return .table(self) }
        var value = self[first]
        for k in path.dropFirst() {
            guard case .table(let t)? = value else { return nil }
            value = t[k]
        }
        return value
    }

    /// The values in document order.
    public var values: [TOMLValue] { entries.map(\.value) }
}

extension TOMLValue {
    /// A float, or an integer converted to a float.
    public var doubleValue: Double? {
        switch self {
        case .float(let d): return d
        case .integer(let i): return Double(i)
        default: return nil
        }
    }
    public var dateTimeValue: TOMLDateTime? { if case .datetime(let d) = self { return d }; return nil }

    /// "a string", "an integer", "an inline table" ... for messages.
    var article: String {
        switch self {
        case .string: return "a string"
        case .integer: return "an integer"
        case .float: return "a float"
        case .boolean: return "a boolean"
        case .datetime(let d):
            switch d.kind {
            case .offsetDateTime: return "a date-time"
            case .localDateTime: return "a local date-time"
            case .localDate: return "a local date"
            case .localTime: return "a local time"
            }
        case .array: return "an array"
        case .table: return "an inline table"
        }
    }
}
