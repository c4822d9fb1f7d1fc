import Foundation

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
/// Stored as parallel arrays of keys and values; tables with more than
/// `indexThreshold` keys also keep a hash index (small tables are searched linearly,
/// which is faster and smaller than hashing).
public struct TOMLTable: Sendable, Equatable, Sequence {
    public private(set) var keys: [String] = []
    private var slots: [TOMLValue] = []
    private var index: _TOMLKeyIndex? = nil
    static let indexThreshold = 8

    public init() {}
    public init(_ pairs: [(String, TOMLValue)]) {
        for (k, v) in pairs { self[k] = v }
    }

    public var count: Int { keys.count }
    public var isEmpty: Bool { keys.isEmpty }

    @inline(__always)
    func slot(of key: String) -> Int? {
        if let index { return index.find(key, hash: _TOMLKeyIndex.hash(key), in: keys) }
        var i = 0
        let n = keys.count
        while i < n {
            if keys[i] == key { return i }
            i += 1
        }
        return nil
    }

    private mutating func rebuildIndex() {
        index = keys.count > Self.indexThreshold ? _TOMLKeyIndex(keys: keys) : nil
    }

    public subscript(key: String) -> TOMLValue? {
        get {
            guard let i = slot(of: key) else { return nil }
            return slots[i]
        }
        set {
            if let i = slot(of: key) {
                if let newValue {
                    slots[i] = newValue
                } else {
                    keys.remove(at: i)
                    slots.remove(at: i)
                    if index != nil { rebuildIndex() }
                }
            } else if let newValue {
                keys.append(key)
                slots.append(newValue)
                if index != nil {
                    index!.insert(hash: _TOMLKeyIndex.hash(key), position: keys.count - 1)
                } else if keys.count > Self.indexThreshold {
                    rebuildIndex()
                }
            }
        }
    }

    public func makeIterator() -> AnyIterator<(key: String, value: TOMLValue)> {
        var i = 0
        let keys = self.keys
        let slots = self.slots
        return AnyIterator {
            guard i < keys.count else { return nil }
            defer { i += 1 }
            return (keys[i], slots[i])
        }
    }

    public static func == (a: TOMLTable, b: TOMLTable) -> Bool {
        // Equality of TOML tables does not depend on key order.
        guard a.keys.count == b.keys.count else { return false }
        if a.keys == b.keys { return a.slots == b.slots }
        for (i, k) in a.keys.enumerated() {
            guard let j = b.slot(of: k), a.slots[i] == b.slots[j] else { return false }
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
    /// Builds a table from unique keys in order and their values; `index` (key → position)
    /// may be passed when already built.
    init(_keys keys: [String], values: [TOMLValue], index: _TOMLKeyIndex?) {
        self.keys = keys
        self.slots = values
        if let index, keys.count > Self.indexThreshold {
            self.index = index
        } else {
            rebuildIndex()
        }
    }

    /// Visits keys and values in order (faster than the iterator).
    @inline(__always)
    func forEachEntry(_ body: (String, TOMLValue) throws -> Void) rethrows {
        for i in 0..<keys.count { try body(keys[i], slots[i]) }
    }

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
    public var values: [TOMLValue] { slots }
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
