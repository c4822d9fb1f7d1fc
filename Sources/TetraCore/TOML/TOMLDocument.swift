import FoundationEssentials
import Glibc
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#elseif canImport(Musl)
import Musl
#endif

/// A TOML document that keeps every byte of its source (comments, blank lines, key
/// order, quoting, number formats, whitespace): `render()` of an untouched document is
/// byte-identical to the input. Edits splice only the bytes they change and re-parse.
public struct TOMLDocument: Sendable {
    /// The source (valid UTF-8).
    public private(set) var bytes: [UInt8]
    /// The decoded value.
    public private(set) var table: TOMLTable
    /// The file name used in error messages.
    public var fileName: String?
    private var box: _TOMLIndexBox

    /// Parses TOML text. Errors are `ConfigError` (exit 3) with `line:column`.
    public init(parsing text: String, fileName: String? = nil) throws {
        try self.init(bytes: Array(text.utf8), fileName: fileName)
    }

    /// Parses UTF-8 bytes. Errors are `ConfigError` (exit 3) with `line:column`.
    public init(bytes: [UInt8], fileName: String? = nil) throws {
        var b = bytes
        b.reserveCapacity(b.count + 1)
        b.append(0)
        try self.init(sentinelTerminated: b, fileName: fileName)
    }

    /// Parses UTF-8 data (one copy, no per-byte iteration).
    public init(data: Data, fileName: String? = nil) throws {
        try self.init(sentinelTerminated: _TOMLBytes.sentinelTerminated(data), fileName: fileName)
    }

    init(sentinelTerminated b: [UInt8], fileName: String?, recorder: _TOMLRecorder? = nil) throws {
        var b = b
        table = try _TOMLParse.run(sentinelTerminated: b, file: fileName, recorder: recorder)
        b.removeLast()
        bytes = b
        self.fileName = fileName
        box = _TOMLIndexBox()
        if let recorder { box.set(_TOMLIndex(recorder: recorder, bytes: b)) }
    }

    /// Reads and parses a file; errors name the file (`displayName` if given, else the path).
    /// A missing file is `CoreError.notFound` (exit 4); a parse error is `ConfigError` (exit 3).
    public init(contentsOfFile path: String, displayName: String? = nil) throws {
        let bytes = try TOMLDocument.readFile(path, extra: 1)
        try self.init(sentinelTerminated: bytes, fileName: displayName ?? path)
    }

    /// Reads a whole file into memory followed by `extra` zero bytes.
    static func readFile(_ path: String, extra: Int) throws -> [UInt8] {
        let fd = open(path, O_RDONLY)
        if fd < 0 {
            let err = errno
            if err == ENOENT { throw CoreError.notFound(what: "file", name: path) }
            throw ConfigError(ConfigProblem(file: path, message: "cannot read file: \(String(cString: strerror(err)))"))
        }
        defer { close(fd) }
        var st = stat()
        var size = 0
        if fstat(fd, &st) == 0 {
            if (st.st_mode & S_IFMT) == S_IFDIR {
                throw ConfigError(ConfigProblem(file: path, message: "cannot read file: it is a directory"))
            }
            if (st.st_mode & S_IFMT) == S_IFREG { size = Int(st.st_size) }
        }
        var out = [UInt8]()
        // Read directly into the array's storage when the size is known.
        if size > 0 {
            out = [UInt8](unsafeUninitializedCapacity: size + extra) { buf, initialized in
                var done = 0
                while done < size {
                    let r = read(fd, buf.baseAddress! + done, size - done)
                    if r < 0 { if errno == EINTR { continue }; break }
                    if r == 0 { break }
                    done += r
                }
                initialized = done
            }
        }
        // Whatever is left (files whose size is unknown or that grew).
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let r = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, 65536) }
            if r < 0 {
                if errno == EINTR { continue }
                throw ConfigError(ConfigProblem(file: path, message: "cannot read file: \(String(cString: strerror(errno)))"))
            }
            if r == 0 { break }
            out.append(contentsOf: chunk[0..<r])
        }
        for _ in 0..<extra { out.append(0) }
        return out
    }

    // MARK: rendering

    /// The document text.
    public func render() -> String { String(decoding: bytes, as: UTF8.self) }
    /// The document bytes.
    public func renderBytes() -> [UInt8] { bytes }

    /// Writes the document with the one atomic writer (a symlink followed, a special file
    /// refused), keeping the mode of an existing file.
    public func write(toFile path: String) throws {
        var st = stat()
        let mode = stat(path, &st) == 0 ? st.st_mode & 0o7777 : 0o644
        try AtomicFile.write(Data(bytes), to: path, mode: mode)
    }

    // MARK: positions

    var index: _TOMLIndex {
        box.get {
            let rec = _TOMLRecorder()
            // The document parsed before, so this cannot fail.
            _ = try? _TOMLParse.run(bytes, file: nil, recorder: rec)
            return _TOMLIndex(recorder: rec, bytes: bytes)
        }
    }

    /// Position of the value of the key at `path` (for a table: where it is defined).
    /// Components that are integers index into arrays (`["servers", "0", "name"]`).
    public func position(of path: [String]) -> SourcePosition? {
        position(of: resolve(path))
    }

    /// Position of the value at `path` (for a table: its header or first key).
    public func position(of path: [TOMLPathComponent]) -> SourcePosition? {
        let idx = index
        if let e = idx.entry(path) { return idx.position(idx.rec.entries[e].valueStart) }
        if let off = idx.rec.tableOffsets[path] { return idx.position(off) }
        if path.isEmpty { return nil }
        return nil
    }

    /// Position of the key at `path` (for array elements: the element).
    public func keyPosition(of path: [TOMLPathComponent]) -> SourcePosition? {
        let idx = index
        if let e = idx.entry(path) {
            let en = idx.rec.entries[e]
            return idx.position(en.kind == .keyValue ? en.keyStart : en.valueStart)
        }
        if let h = idx.headerByPath[path] { return idx.position(idx.rec.headers[h].keyStart) }
        if let off = idx.rec.tableOffsets[path] { return idx.position(off) }
        return nil
    }

    /// Converts a `[String]` path to path components, treating integer components as
    /// array indices where the value at that point is an array.
    public func resolve(_ path: [String]) -> [TOMLPathComponent] {
        var out: [TOMLPathComponent] = []
        var cur: TOMLValue? = .table(table)
        for comp in path {
            if case .array(let a)? = cur, let i = Int(comp), i >= 0 {
                out.append(.index(i))
                cur = i < a.count ? a[i] : nil
            } else {
                out.append(.key(comp))
                if case .table(let t)? = cur { cur = t[comp] } else { cur = nil }
            }
        }
        return out
    }

    /// The value at a path.
    public func value(at path: [String]) -> TOMLValue? {
        TOMLValue.table(table).value(at: resolve(path)[...])
    }
}

enum _TOMLBytes {
    /// The bytes of `data` followed by a 0 sentinel.
    static func sentinelTerminated(_ data: Data) -> [UInt8] {
        let n = data.count
        return [UInt8](unsafeUninitializedCapacity: n + 1) { buf, initialized in
            data.withUnsafeBytes { raw in
                if n > 0 { buf.baseAddress!.update(from: raw.bindMemory(to: UInt8.self).baseAddress!, count: n) }
            }
            buf[n] = 0
            initialized = n + 1
        }
    }
}

extension TOMLParser {
    /// Parses UTF-8 data (one copy, no per-byte iteration). Errors are `ConfigError` (exit 3).
    public static func parse(data: Data, file: String? = nil) throws -> TOMLTable {
        try _TOMLParse.run(sentinelTerminated: _TOMLBytes.sentinelTerminated(data), file: file, recorder: nil)
    }

    /// Reads and parses a file; a missing file is `CoreError.notFound` (exit 4).
    /// Large regular files are released behind the parser as it goes (see `_TOMLFileBuffer`);
    /// the result and the errors are the same.
    public static func parse(contentsOfFile path: String, displayName: String? = nil) throws -> TOMLTable {
        if let buffer = _TOMLFileBuffer.readIfLarge(path) {
            return try _TOMLParse.run(buffer: buffer, file: displayName ?? path)
        }
        return try _TOMLParse.run(sentinelTerminated: TOMLDocument.readFile(path, extra: 1), file: displayName ?? path, recorder: nil)
    }
}

// MARK: - Index

final class _TOMLIndexBox: @unchecked Sendable {
    private let lock = Lock()
    private var index: _TOMLIndex?

    func get(_ build: () -> _TOMLIndex) -> _TOMLIndex {
        lock.lock()
        defer { lock.unlock() }
        if let index { return index }
        let i = build()
        index = i
        return i
    }

    func set(_ i: _TOMLIndex) {
        lock.lock()
        index = i
        lock.unlock()
    }
}

/// Spans of every key, value and header of a document, by path.
final class _TOMLIndex: @unchecked Sendable {
    let rec: _TOMLRecorder
    let entryByPath: [[TOMLPathComponent]: Int]
    let headerByPath: [[TOMLPathComponent]: Int]
    let lineStarts: [Int]

    init(recorder: _TOMLRecorder, bytes: [UInt8]) {
        rec = recorder
        var e: [[TOMLPathComponent]: Int] = [:]
        for (i, en) in recorder.entries.enumerated() { e[en.path] = i }
        entryByPath = e
        var h: [[TOMLPathComponent]: Int] = [:]
        for (i, hd) in recorder.headers.enumerated() { h[hd.path] = i }
        headerByPath = h
        var ls = [0]
        for (i, b) in bytes.enumerated() where b == 0x0A { ls.append(i + 1) }
        lineStarts = ls
        self.bytes = bytes
    }

    let bytes: [UInt8]

    func entry(_ path: [TOMLPathComponent]) -> Int? { entryByPath[path] }

    func position(_ offset: Int) -> SourcePosition {
        var lo = 0, hi = lineStarts.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if lineStarts[mid] <= offset { lo = mid } else { hi = mid - 1 }
        }
        var col = 1
        var i = lineStarts[lo]
        while i < offset && i < bytes.count {
            if bytes[i] & 0xC0 != 0x80 { col += 1 }
            i += 1
        }
        return SourcePosition(line: lo + 1, column: col)
    }

    func lineStart(_ offset: Int) -> Int {
        let floor = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
        var i = offset
        while i > floor && bytes[i - 1] != 0x0A { i -= 1 }
        return i
    }

    /// Top-level key/value entries of a section (-1: root), in order.
    func topLevelEntries(section: Int) -> [Int] {
        var out: [Int] = []
        for (i, e) in rec.entries.enumerated() where e.container == -1 && e.kind == .keyValue && e.section == section {
            out.append(i)
        }
        return out
    }

    /// Direct children (key/values or elements) of the inline table or array of entry `c`.
    func children(of c: Int) -> [Int] {
        var out: [Int] = []
        for (i, e) in rec.entries.enumerated() where e.container == c { out.append(i) }
        return out
    }

    func sectionPath(_ section: Int) -> [TOMLPathComponent] {
        section < 0 ? [] : rec.headers[section].path
    }

    func isBlankOrComment(lineAt start: Int) -> (blank: Bool, comment: Bool) {
        var i = start
        while i < bytes.count && (bytes[i] == 0x20 || bytes[i] == 0x09) { i += 1 }
        if i >= bytes.count || bytes[i] == 0x0A || bytes[i] == 0x0D { return (true, false) }
        return (false, bytes[i] == UInt8(ascii: "#"))
    }

    /// Start of the comment lines directly above a header (no blank line between),
    /// unless they reach the start of the file (a file comment).
    func attachedStart(ofHeader h: Int) -> Int {
        var start = rec.headers[h].lineStart
        var cur = start
        let floor = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
        while cur > floor {
            let prev = lineStart(cur - 1)
            let kind = isBlankOrComment(lineAt: prev)
            if kind.comment { cur = prev } else { break }
        }
        if cur == floor { return start }
        start = cur
        return start
    }

    /// The bytes of a section: from its header (with attached comments) to the next header.
    func sectionRange(_ h: Int) -> Range<Int> {
        let start = attachedStart(ofHeader: h)
        let end = h + 1 < rec.headers.count ? attachedStart(ofHeader: h + 1) : bytes.count
        return start..<max(start, end)
    }
}

// MARK: - Value paths

extension TOMLValue {
    /// The value at a path of keys and indices.
    public func value(at path: ArraySlice<TOMLPathComponent>) -> TOMLValue? {
        var cur = self
        for c in path {
            switch (c, cur) {
            case (.key(let k), .table(let t)):
                guard let v = t[k] else { return nil }
                cur = v
            case (.index(let i), .array(let a)):
                guard i >= 0 && i < a.count else { return nil }
                cur = a[i]
            default:
                return nil
            }
        }
        return cur
    }

    /// Sets the value at a path, creating missing tables for keys. Returns false when a
    /// non-table value or a missing array element is in the way.
    mutating func setValue(_ v: TOMLValue, at path: ArraySlice<TOMLPathComponent>) -> Bool {
        guard let first = path.first else { self = v; return true }
        switch (first, self) {
        case (.key(let k), .table(var t)):
            var child = t[k] ?? .table(TOMLTable())
            if t[k] == nil && path.count > 1, case .index = path[path.startIndex + 1] { return false }
            guard child.setValue(v, at: path.dropFirst()) else { return false }
            t[k] = child
            self = .table(t)
            return true
        case (.index(let i), .array(var a)):
            if i == a.count && path.count == 1 { a.append(v); self = .array(a); return true }
            guard i >= 0 && i < a.count else { return false }
            var child = a[i]
            guard child.setValue(v, at: path.dropFirst()) else { return false }
            a[i] = child
            self = .array(a)
            return true
        default:
            return false
        }
    }

    /// Removes the value at a path (no-op when absent).
    mutating func removeValue(at path: ArraySlice<TOMLPathComponent>) {
        guard let first = path.first else { return }
        switch (first, self) {
        case (.key(let k), .table(var t)):
            if path.count == 1 {
                t[k] = nil
            } else if var child = t[k] {
                child.removeValue(at: path.dropFirst())
                t[k] = child
            }
            self = .table(t)
        case (.index(let i), .array(var a)):
            guard i >= 0 && i < a.count else { return }
            if path.count == 1 {
                a.remove(at: i)
            } else {
                var child = a[i]
                child.removeValue(at: path.dropFirst())
                a[i] = child
            }
            self = .array(a)
        default:
            return
        }
    }
}
