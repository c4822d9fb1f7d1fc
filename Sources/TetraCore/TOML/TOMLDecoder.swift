import FoundationEssentials

/// Decodes `Decodable` models from TOML documents.
///
/// Errors are `ConfigError` (exit 3) naming the file, the key path and the `line:column`
/// of the offending value:
///
///     ports.toml:12:9: ports.api: expected an integer, found a string
///     org.toml:3:1: environments.dev: missing required key 'target'
///
/// Keys present in the document that the model never asked for are returned as warnings
/// (`unknown key 'x'`), with positions.
///
/// Supported: Bool, String, all integer types (range-checked), Double/Float (integers are
/// accepted too), arrays, dictionaries (`[String: T]`, or `TOMLOrderedDictionary<T>` to keep
/// document order), nested models, optionals, `TOMLValue`, `TOMLTable`, `TOMLDateTime`,
/// and `Date` (from an offset date-time).
public struct TOMLDecoder {
    public var userInfo: [CodingUserInfoKey: any Sendable] = [:]

    public init() {}

    /// Decodes `type` from a document (or from the table at `path` inside it).
    /// `file` defaults to the document's file name.
    public func decode<T: Decodable>(_ type: T.Type, from document: TOMLDocument, at path: [String] = [],
                                     file: String? = nil) throws -> (T, [ConfigProblem]) {
        let pcs = document.resolve(path)
        guard let root = document.value(at: path) else {
            throw ConfigError(ConfigProblem(file: file ?? document.fileName, keyPath: TOMLPathComponent.render(pcs),
                                            message: "missing required table '\(TOMLPathComponent.render(pcs))'"))
        }
        let state = _TOMLDecodingState(file: file ?? document.fileName, document: document, userInfo: userInfo)
        return try run(type, root: root, path: pcs, state: state)
    }

    /// Decodes `type` from a table (no positions in messages).
    public func decode<T: Decodable>(_ type: T.Type, from table: TOMLTable, file: String? = nil) throws -> (T, [ConfigProblem]) {
        let state = _TOMLDecodingState(file: file, document: nil, userInfo: userInfo)
        return try run(type, root: .table(table), path: [], state: state)
    }

    /// Decodes `type` from any value (no positions in messages).
    public func decode<T: Decodable>(_ type: T.Type, from value: TOMLValue, file: String? = nil) throws -> (T, [ConfigProblem]) {
        let state = _TOMLDecodingState(file: file, document: nil, userInfo: userInfo)
        return try run(type, root: value, path: [], state: state)
    }

    /// Decodes what it can and keeps going (validation): a key of the wrong type or a
    /// missing required key is a problem, and decoding goes on with the other keys (an
    /// optional key that failed is nil, a required one a placeholder: "", 0, false, [], a
    /// model of placeholders), so one wrong key never hides the problems of the others.
    /// `failedPaths` names the keys that failed, for checks that would otherwise report
    /// them a second time. `value` is nil only when nothing could be decoded at all.
    public func decodeCollecting<T: Decodable>(_ type: T.Type, from document: TOMLDocument,
                                               file: String? = nil) -> TOMLCollectedDecoding<T> {
        let state = _TOMLDecodingState(file: file ?? document.fileName, document: document, userInfo: userInfo,
                                       collecting: true)
        let root = TOMLValue.table(document.table)
        var value: T? = nil
        do {
            value = try _TOMLDecoderImpl(value: root, path: [], state: state).decodeValue(T.self)
        } catch let e as ConfigError {
            state.problems += e.problems
        } catch let e as DecodingError {
            state.problems += state.convert(e, base: []).problems
        } catch {
            if !(error is _TOMLReported) { state.problems.append(ConfigProblem(file: state.file, message: "\(error)")) }
        }
        let problems = state.problems.enumerated().sorted { a, b in
            let x = a.element.position ?? SourcePosition(line: 0, column: 0), y = b.element.position ?? SourcePosition(line: 0, column: 0)
            return (x.line, x.column, a.offset) < (y.line, y.column, b.offset)
        }.map(\.element)
        return TOMLCollectedDecoding(value: value, problems: problems,
                                     warnings: state.unknownKeyWarnings(root: root, base: []), failedPaths: state.failedPaths)
    }

    private func run<T: Decodable>(_ type: T.Type, root: TOMLValue, path: [TOMLPathComponent],
                                   state: _TOMLDecodingState) throws -> (T, [ConfigProblem]) {
        let decoder = _TOMLDecoderImpl(value: root, path: path, state: state)
        let result: T
        do {
            result = try decoder.decodeValue(T.self)
        } catch let e as DecodingError {
            throw state.convert(e, base: path)
        }
        return (result, state.unknownKeyWarnings(root: root, base: path))
    }
}

/// What `TOMLDecoder.decodeCollecting` found: the value (with placeholders where keys
/// failed), every problem, the unknown keys (warnings) and the paths of the keys that failed.
public struct TOMLCollectedDecoding<T> {
    public var value: T?
    public var problems: [ConfigProblem]
    public var warnings: [ConfigProblem]
    /// Dotted paths (`environments.prod.keep_releases`) of keys whose value failed to decode.
    public var failedPaths: Set<String>

    /// Whether `path` or one of its parents failed to decode (a check of it would report
    /// the same key twice).
    public func failed(_ path: [String]) -> Bool {
        var prefix = ""
        for component in path {
            prefix += prefix.isEmpty ? component : "." + component
            if failedPaths.contains(prefix) { return true }
        }
        return false
    }
}

/// Thrown past a recovery point whose problem is already recorded (collecting mode).
struct _TOMLReported: Error {}

// MARK: - State

final class _TOMLDecodingState {
    let file: String?
    let document: TOMLDocument?
    let userInfo: [CodingUserInfoKey: Any]
    /// Tables a keyed container was made for, in order, and the keys asked for in each.
    var visited: [[TOMLPathComponent]: Set<String>] = [:]
    /// Collecting mode: a failed key is recorded in `problems` and decoding goes on.
    let collecting: Bool
    var problems: [ConfigProblem] = []
    var failedPaths: Set<String> = []

    init(file: String?, document: TOMLDocument?, userInfo: [CodingUserInfoKey: any Sendable], collecting: Bool = false) {
        self.file = file
        self.document = document
        var u: [CodingUserInfoKey: Any] = [:]
        for (k, v) in userInfo { u[k] = v }
        self.userInfo = u
        self.collecting = collecting
    }

    private init(placeholderFor other: _TOMLDecodingState) {
        file = nil
        document = nil
        userInfo = other.userInfo
        collecting = true
    }

    /// Collecting mode: runs `body` for the key at `path`; a failure is recorded (once) and
    /// the key marked failed. Returns nil then (the caller decides: nil or a placeholder).
    func recovering<T>(_ path: [TOMLPathComponent], _ body: () throws -> T) throws -> T? {
        do {
            return try body()
        } catch let e as ConfigError {
            problems += e.problems
        } catch let e as DecodingError {
            problems += convert(e, base: path).problems
        } catch is _TOMLReported {
        }
        failedPaths.insert(path.map { c -> String in
            switch c {
            case .key(let k): return k
            case .index(let i): return String(i)
            }
        }.joined(separator: "."))
        return nil
    }

    /// A stand-in value of `T` for a required key that failed: decoded from an empty
    /// string, zero, false, an empty array or an empty table (a model of placeholders),
    /// whichever `T` accepts. Nil when none does.
    func placeholder<T: Decodable>(_ type: T.Type) -> T? {
        let seeds: [TOMLValue] = [.string(""), .integer(0), .boolean(false), .array([]), .table(TOMLTable())]
        for seed in seeds {
            let silent = _TOMLDecodingState(placeholderFor: self)
            if let v = try? _TOMLDecoderImpl(value: seed, path: [], state: silent).decodeValue(T.self) { return v }
        }
        return nil
    }

    func visit(_ path: [TOMLPathComponent]) {
        if visited[path] == nil { visited[path] = [] }
    }

    func use(_ key: String, in path: [TOMLPathComponent]) {
        visited[path, default: []].insert(key)
    }

    func position(_ path: [TOMLPathComponent]) -> SourcePosition? {
        document?.position(of: path)
    }

    func error(_ path: [TOMLPathComponent], _ message: String, position: SourcePosition?? = nil) -> ConfigError {
        let pos: SourcePosition? = position ?? self.position(path)
        return ConfigError(ConfigProblem(file: file, position: pos, keyPath: TOMLPathComponent.render(path), message: message))
    }

    func typeMismatch(_ path: [TOMLPathComponent], expected: String, found: TOMLValue) -> ConfigError {
        error(path, "expected \(expected), found \(TOMLDocument.article(found))")
    }

    func missingKey(_ key: String, in path: [TOMLPathComponent]) -> ConfigError {
        error(path, "missing required key '\(Names.printable(key))'")
    }

    /// A DecodingError thrown by model code, as a ConfigError with a position.
    func convert(_ e: DecodingError, base: [TOMLPathComponent]) -> ConfigError {
        func pcs(_ keys: [CodingKey]) -> [TOMLPathComponent] {
            keys.map { k in
                if let i = k.intValue, k is _TOMLKey, (k as! _TOMLKey).isIndex { return .index(i) }
                if let i = k.intValue, k.stringValue == "Index \(i)" { return .index(i) }
                return .key(k.stringValue)
            }
        }
        switch e {
        case .dataCorrupted(let c):
            let p = pcs(c.codingPath)
            return error(p, c.debugDescription)
        case .keyNotFound(let k, let c):
            return missingKey(k.stringValue, in: pcs(c.codingPath))
        case .typeMismatch(_, let c), .valueNotFound(_, let c):
            return error(pcs(c.codingPath), c.debugDescription)
        @unknown default:
            return error(base, "\(e)")
        }
    }

    /// Keys of visited tables that the model never asked for, in document order.
    func unknownKeyWarnings(root: TOMLValue, base: [TOMLPathComponent]) -> [ConfigProblem] {
        var out: [ConfigProblem] = []
        func walk(_ v: TOMLValue, _ path: [TOMLPathComponent]) {
            switch v {
            case .table(let t):
                guard let used = visited[path] else { return }
                for (k, child) in t {
                    if used.contains(k) {
                        walk(child, path + [.key(k)])
                    } else {
                        var message = "unknown key '\(Names.printable(k))'"
                        if let s = Self.suggestion(for: k, among: used) { message += " (did you mean '\(s)'?)" }
                        out.append(ConfigProblem(file: file, position: document?.keyPosition(of: path + [.key(k)]),
                                                 keyPath: TOMLPathComponent.render(path), message: message))
                    }
                }
            case .array(let a):
                for (i, e) in a.enumerated() { walk(e, path + [.index(i)]) }
            default:
                return
            }
        }
        walk(root, base)
        return out
    }

    static func suggestion(for key: String, among candidates: Set<String>) -> String? {
        var best: (String, Int)? = nil
        for c in candidates.sorted() {
            let d = editDistance(key.lowercased(), c.lowercased())
            if d <= max(1, min(2, key.count / 3)), best == nil || d < best!.1 { best = (c, d) }
        }
        return best?.0
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var prev = Array(0...b.count)
        var cur = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            cur[0] = i
            for j in 1...b.count {
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&prev, &cur)
        }
        return prev[b.count]
    }
}

struct _TOMLKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    var isIndex = false

    init(stringValue: String) { self.stringValue = stringValue }
    init(intValue: Int) { self.stringValue = "Index \(intValue)"; self.intValue = intValue; self.isIndex = true }
    init(_ c: TOMLPathComponent) {
        switch c {
        case .key(let k): self.init(stringValue: k)
        case .index(let i): self.init(intValue: i)
        }
    }
}

// MARK: - Decoder

final class _TOMLDecoderImpl: Decoder {
    let value: TOMLValue
    let path: [TOMLPathComponent]
    let state: _TOMLDecodingState

    init(value: TOMLValue, path: [TOMLPathComponent], state: _TOMLDecodingState) {
        self.value = value
        self.path = path
        self.state = state
    }

    var codingPath: [CodingKey] { path.map { _TOMLKey($0) } }
    var userInfo: [CodingUserInfoKey: Any] { state.userInfo }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .table(let t) = value else { throw state.typeMismatch(path, expected: "a table", found: value) }
        state.visit(path)
        return KeyedDecodingContainer(_TOMLKeyedContainer<Key>(table: t, path: path, state: state))
    }

    func unkeyedContainer() throws -> UnkeyedDecodingContainer {
        guard case .array(let a) = value else { throw state.typeMismatch(path, expected: "an array", found: value) }
        return _TOMLUnkeyedContainer(items: a, path: path, state: state)
    }

    func singleValueContainer() throws -> SingleValueDecodingContainer {
        _TOMLSingleValueContainer(decoder: self)
    }

    // MARK: conversions

    func decodeValue<T: Decodable>(_ type: T.Type) throws -> T {
        if T.self == TOMLValue.self { return value as! T }
        if T.self == TOMLTable.self {
            guard case .table(let t) = value else { throw state.typeMismatch(path, expected: "a table", found: value) }
            return t as! T
        }
        if T.self == TOMLDateTime.self {
            guard case .datetime(let d) = value else { throw state.typeMismatch(path, expected: "a date-time", found: value) }
            return d as! T
        }
        if T.self == Date.self {
            guard case .datetime(let d) = value, let date = d.foundationDate else {
                throw state.typeMismatch(path, expected: "a date-time with an offset", found: value)
            }
            return date as! T
        }
        switch T.self {
        case is Bool.Type: return try bool() as! T
        case is String.Type: return try string() as! T
        case is Double.Type: return try double() as! T
        case is Float.Type: return Float(try double()) as! T
        case is Int.Type: return try integer(Int.self) as! T
        case is Int64.Type: return try integer(Int64.self) as! T
        case is Int32.Type: return try integer(Int32.self) as! T
        case is Int16.Type: return try integer(Int16.self) as! T
        case is Int8.Type: return try integer(Int8.self) as! T
        case is UInt.Type: return try integer(UInt.self) as! T
        case is UInt64.Type: return try integer(UInt64.self) as! T
        case is UInt32.Type: return try integer(UInt32.self) as! T
        case is UInt16.Type: return try integer(UInt16.self) as! T
        case is UInt8.Type: return try integer(UInt8.self) as! T
        default: return try T(from: self)
        }
    }

    func bool() throws -> Bool {
        guard case .boolean(let b) = value else { throw state.typeMismatch(path, expected: "a boolean", found: value) }
        return b
    }

    func string() throws -> String {
        guard case .string(let s) = value else { throw state.typeMismatch(path, expected: "a string", found: value) }
        return s
    }

    func double() throws -> Double {
        switch value {
        case .float(let d): return d
        case .integer(let i): return Double(i)
        default: throw state.typeMismatch(path, expected: "a number", found: value)
        }
    }

    func integer<I: FixedWidthInteger>(_ type: I.Type) throws -> I {
        guard case .integer(let i) = value else { throw state.typeMismatch(path, expected: "an integer", found: value) }
        guard let v = I(exactly: i) else {
            throw state.error(path, "expected an integer between \(I.min) and \(I.max), found \(i)")
        }
        return v
    }
}

struct _TOMLKeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let table: TOMLTable
    let path: [TOMLPathComponent]
    let state: _TOMLDecodingState

    var codingPath: [CodingKey] { path.map { _TOMLKey($0) } }
    var allKeys: [Key] { table.keys.compactMap { Key(stringValue: $0) } }

    func contains(_ key: Key) -> Bool {
        state.use(key.stringValue, in: path)
        return table[key.stringValue] != nil
    }

    private func child(_ key: Key) throws -> _TOMLDecoderImpl {
        state.use(key.stringValue, in: path)
        guard let v = table[key.stringValue] else { throw state.missingKey(key.stringValue, in: path) }
        return _TOMLDecoderImpl(value: v, path: path + [.key(key.stringValue)], state: state)
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        state.use(key.stringValue, in: path)
        return table[key.stringValue] == nil
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        guard state.collecting else { return try child(key).decodeValue(T.self) }
        if let v = try state.recovering(path + [.key(key.stringValue)], { try child(key).decodeValue(T.self) }) { return v }
        guard let stand = state.placeholder(T.self) else { throw _TOMLReported() }
        return stand
    }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        state.use(key.stringValue, in: path)
        guard table[key.stringValue] != nil else { return nil }
        guard state.collecting else { return try child(key).decodeValue(T.self) }
        return try state.recovering(path + [.key(key.stringValue)], { try child(key).decodeValue(T.self) })
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try child(key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> UnkeyedDecodingContainer {
        try child(key).unkeyedContainer()
    }

    func superDecoder() throws -> Decoder {
        state.use("super", in: path)
        return _TOMLDecoderImpl(value: table["super"] ?? .table(TOMLTable()), path: path + [.key("super")], state: state)
    }

    func superDecoder(forKey key: Key) throws -> Decoder {
        try child(key)
    }
}

struct _TOMLUnkeyedContainer: UnkeyedDecodingContainer {
    let items: [TOMLValue]
    let path: [TOMLPathComponent]
    let state: _TOMLDecodingState
    var currentIndex = 0

    init(items: [TOMLValue], path: [TOMLPathComponent], state: _TOMLDecodingState) {
        self.items = items
        self.path = path
        self.state = state
    }

    var codingPath: [CodingKey] { path.map { _TOMLKey($0) } }
    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    private mutating func next() throws -> _TOMLDecoderImpl {
        guard !isAtEnd else {
            throw state.error(path, "expected more elements (the array has \(items.count))")
        }
        defer { currentIndex += 1 }
        return _TOMLDecoderImpl(value: items[currentIndex], path: path + [.index(currentIndex)], state: state)
    }

    mutating func decodeNil() throws -> Bool { false }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try next().decodeValue(T.self)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try next().container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> UnkeyedDecodingContainer {
        try next().unkeyedContainer()
    }

    mutating func superDecoder() throws -> Decoder { try next() }
}

struct _TOMLSingleValueContainer: SingleValueDecodingContainer {
    let decoder: _TOMLDecoderImpl
    var codingPath: [CodingKey] { decoder.codingPath }

    func decodeNil() -> Bool { false }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try decoder.decodeValue(T.self) }
}

// MARK: - Supporting types

/// A table decoded with its keys in document order (Swift dictionaries have no order).
public struct TOMLOrderedDictionary<Value: Decodable>: Decodable, Sequence {
    public private(set) var keys: [String] = []
    private var storage: [String: Value] = [:]

    public init() {}

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: _TOMLKey.self)
        for key in c.allKeys {
            keys.append(key.stringValue)
            storage[key.stringValue] = try c.decode(Value.self, forKey: key)
        }
    }

    public subscript(key: String) -> Value? { storage[key] }
    public var count: Int { keys.count }
    public var values: [Value] { keys.map { storage[$0]! } }

    public func makeIterator() -> AnyIterator<(key: String, value: Value)> {
        var i = 0
        return AnyIterator {
            guard i < keys.count else { return nil }
            defer { i += 1 }
            return (keys[i], storage[keys[i]]!)
        }
    }
}

extension TOMLOrderedDictionary: Sendable where Value: Sendable {}
extension TOMLOrderedDictionary: Equatable where Value: Equatable {}

extension TOMLDateTime: Codable {
    /// Decodes from the TOML form of a date-time string (any of the four kinds); the TOML
    /// decoder passes date-time values through directly.
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        let s = try c.decode(String.self)
        guard let d = _TOMLParse.parseDateTime(s) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "invalid date-time '\(s)'"))
        }
        self = d
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(TOMLSerializer.formatDateTime(self))
    }

    /// The instant of an offset date-time (nil for local kinds).
    public var foundationDate: FoundationEssentials.Date? {
        guard let date, let time, let offsetMinutes else { return nil }
        let y = date.month <= 2 ? date.year - 1 : date.year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (date.month + (date.month > 2 ? -3 : 9)) + 2) / 5 + date.day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146097 + doe - 719468
        let secs = days * 86400 + time.hour * 3600 + time.minute * 60 + time.second - offsetMinutes * 60
        var frac = 0.0
        if !time.fraction.isEmpty, let f = Double("0." + time.fraction) { frac = f }
        return FoundationEssentials.Date(timeIntervalSince1970: Double(secs) + frac)
    }
}

extension TOMLValue: Decodable {
    /// Decodes any value; the TOML decoder passes values through directly, other decoders
    /// map JSON-like data (strings, numbers, booleans, arrays, objects).
    public init(from decoder: Decoder) throws {
        if let d = decoder as? _TOMLDecoderImpl {
            self = d.value
            return
        }
        if let c = try? decoder.container(keyedBy: _TOMLKey.self) {
            var t = TOMLTable()
            for k in c.allKeys { t[k.stringValue] = try c.decode(TOMLValue.self, forKey: k) }
            self = .table(t)
            return
        }
        if var c = try? decoder.unkeyedContainer() {
            var a: [TOMLValue] = []
            while !c.isAtEnd { a.append(try c.decode(TOMLValue.self)) }
            self = .array(a)
            return
        }
        let c = try decoder.singleValueContainer()
        if let b = try? c.decode(Bool.self) { self = .boolean(b); return }
        if let i = try? c.decode(Int64.self) { self = .integer(i); return }
        if let d = try? c.decode(Double.self) { self = .float(d); return }
        self = .string(try c.decode(String.self))
    }
}

extension TOMLTable: Decodable {
    /// Decodes a table; the TOML decoder passes tables through directly.
    public init(from decoder: Decoder) throws {
        guard case .table(let t) = try TOMLValue(from: decoder) else {
            throw DecodingError.typeMismatch(TOMLTable.self, .init(codingPath: decoder.codingPath, debugDescription: "expected a table"))
        }
        self = t
    }
}
