// Byte-level helpers of the TOML parser: positions of byte offsets, byte constants and
// character classes.

enum _TOMLText {
    /// 1-based line and column (in Unicode scalars) of a byte offset.
    static func position(of offset: Int, in bytes: [UInt8], count: Int? = nil) -> SourcePosition {
        bytes.withUnsafeBufferPointer { position(of: offset, in: UnsafeBufferPointer(rebasing: $0[0..<min(count ?? $0.count, $0.count)])) }
    }

    static func position(of offset: Int, in bytes: UnsafeBufferPointer<UInt8>) -> SourcePosition {
        var line = 1
        var lineStart = 0
        let end = min(offset, bytes.count)
        var i = 0
        while i < end {
            if bytes[i] == 0x0A { line += 1; lineStart = i + 1 }
            i += 1
        }
        var col = 1
        i = lineStart
        while i < end {
            if bytes[i] & 0xC0 != 0x80 { col += 1 }
            i += 1
        }
        return SourcePosition(line: line, column: col)
    }

    /// First invalid UTF-8 byte, or nil.
    static func firstInvalidUTF8(_ p: UnsafePointer<UInt8>, _ n: Int) -> Int? {
        var i = 0
        while i < n {
            if i + 8 <= n {
                let w = UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self)
                if w & 0x8080_8080_8080_8080 == 0 { i += 8; continue }
            }
            let b = p[i]
            if b < 0x80 { i += 1; continue }
            @inline(__always) func cont(_ j: Int) -> Bool { j < n && p[j] & 0xC0 == 0x80 }
            if b < 0xC2 { return i }
            if b < 0xE0 {
                guard cont(i + 1) else { return i }
                i += 2
            } else if b < 0xF0 {
                guard cont(i + 1), cont(i + 2) else { return i }
                let b1 = p[i + 1]
                if b == 0xE0 && b1 < 0xA0 { return i }
                if b == 0xED && b1 >= 0xA0 { return i }
                i += 3
            } else if b < 0xF5 {
                guard cont(i + 1), cont(i + 2), cont(i + 3) else { return i }
                let b1 = p[i + 1]
                if b == 0xF0 && b1 < 0x90 { return i }
                if b == 0xF4 && b1 >= 0x90 { return i }
                i += 4
            } else {
                return i
            }
        }
        return nil
    }
}

let cQuote: UInt8 = 0x22      // "
let cApos: UInt8 = 0x27       // '
let cBackslash: UInt8 = 0x5C
let cLF: UInt8 = 0x0A
let cCR: UInt8 = 0x0D
let cTab: UInt8 = 0x09
let cSpace: UInt8 = 0x20
let cHash: UInt8 = 0x23
let cEq: UInt8 = 0x3D
let cDot: UInt8 = 0x2E
let cComma: UInt8 = 0x2C
let cLBracket: UInt8 = 0x5B
let cRBracket: UInt8 = 0x5D
let cLBrace: UInt8 = 0x7B
let cRBrace: UInt8 = 0x7D
let cUnderscore: UInt8 = 0x5F
let cPlus: UInt8 = 0x2B
let cMinus: UInt8 = 0x2D
let cColon: UInt8 = 0x3A

@inline(__always) func isDigit(_ c: UInt8) -> Bool { c &- 0x30 < 10 }
@inline(__always) func isHexDigit(_ c: UInt8) -> Bool {
    c &- 0x30 < 10 || (c | 0x20) &- 0x61 < 6
}
@inline(__always) func hexValue(_ c: UInt8) -> UInt32 {
    c <= 0x39 ? UInt32(c - 0x30) : UInt32((c | 0x20) - 0x61 + 10)
}

let bareKeyTable: [Bool] = {
    var t = [Bool](repeating: false, count: 256)
    for c in UInt8(ascii: "A")...UInt8(ascii: "Z") { t[Int(c)] = true }
    for c in UInt8(ascii: "a")...UInt8(ascii: "z") { t[Int(c)] = true }
    for c in UInt8(ascii: "0")...UInt8(ascii: "9") { t[Int(c)] = true }
    t[Int(UInt8(ascii: "_"))] = true
    t[Int(UInt8(ascii: "-"))] = true
    return t
}()
