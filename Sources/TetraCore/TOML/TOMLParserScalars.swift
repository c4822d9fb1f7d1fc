// TOML values: dispatch, strings (basic, literal, multi-line), numbers and date-times.

extension _TOMLCore {

    /// Values. This is on the recursion path of nested arrays and inline tables, so it only
    /// dispatches: everything else is out of line to keep its stack frame small.
    mutating func parseValue(depth: Int) throws -> TOMLValue {
        switch p[i] {
        case cLBracket:
            return try parseArray(depth: depth + 1)
        case cLBrace:
            return try parseInlineTable(depth: depth + 1)
        default:
            return try parseScalar()
        }
    }

    @inline(never)
    mutating func parseScalar() throws -> TOMLValue {
        let c = p[i]
        switch c {
        case cQuote:
            if p[i + 1] == cQuote && p[i + 2] == cQuote { return .string(try parseMultilineBasicString()) }
            return .string(try parseBasicString())
        case cApos:
            if p[i + 1] == cApos && p[i + 2] == cApos { return .string(try parseMultilineLiteralString()) }
            return .string(try parseLiteralString())
        case UInt8(ascii: "t"):
            if p[i + 1] == UInt8(ascii: "r") && p[i + 2] == UInt8(ascii: "u") && p[i + 3] == UInt8(ascii: "e") {
                i += 4
                try checkValueEnd(from: i - 4)
                return .boolean(true)
            }
            throw invalidValue()
        case UInt8(ascii: "f"):
            if p[i + 1] == UInt8(ascii: "a") && p[i + 2] == UInt8(ascii: "l") && p[i + 3] == UInt8(ascii: "s") && p[i + 4] == UInt8(ascii: "e") {
                i += 5
                try checkValueEnd(from: i - 5)
                return .boolean(false)
            }
            throw invalidValue()
        case 0x30...0x39:
            if isDigit(p[i + 1]) {
                if isDigit(p[i + 2]) && isDigit(p[i + 3]) && p[i + 4] == cMinus { return try parseDateTime() }
                if p[i + 2] == cColon { return try parseDateTime() }
            }
            return try parseNumber()
        case cPlus, cMinus, UInt8(ascii: "i"), UInt8(ascii: "n"):
            return try parseNumber()
        default:
            throw valueExpected()
        }
    }

    @inline(never)
    func valueExpected() -> _ParseFailure {
        let c = p[i]
        if i >= n { return fail("expected a value, found end of file") }
        if c == cLF || c == cCR { return fail("expected a value, found end of line") }
        return invalidValue()
    }

    /// The token starting at i, for messages.
    func tokenEnd(from start: Int) -> Int {
        var j = start
        while true {
            let c = p[j]
            if bareKey[Int(c)] || c == cDot || c == cPlus || c == cColon || c >= 0x80 { j += 1 } else { break }
        }
        return max(j, start + 1)
    }

    @inline(never)
    func invalidValue() -> _ParseFailure {
        let c = p[i]
        if bareKey[Int(c)] || c >= 0x80 {
            let e = tokenEnd(from: i)
            return fail("invalid value '\(text(i, e))' (strings must be quoted)")
        }
        return fail("expected a value, found \(describe(at: i))")
    }

    /// After a bare value (number, boolean, date-time): must be followed by a delimiter.
    @inline(__always)
    func checkValueEnd(from start: Int) throws {
        let c = p[i]
        if c == cSpace || c == cTab || c == cLF || c == cComma || c == cRBracket || c == cRBrace || c == cHash || c == cCR { return }
        if c == 0 && i >= n { return }
        if bareKey[Int(c)] || c == cDot || c == cPlus || c == cColon || c >= 0x80 {
            throw invalidValueEnd(start)
        }
    }

    @inline(never)
    func invalidValueEnd(_ start: Int) -> _ParseFailure {
        fail("invalid value '\(text(start, tokenEnd(from: i)))'", at: start)
    }

    // MARK: strings

    /// Appends the UTF-8 encoding of a scalar to scratch.
    @inline(__always)
    mutating func appendScalar(_ v: UInt32) {
        if v < 0x80 {
            scratch.append(UInt8(v))
        } else if v < 0x800 {
            scratch.append(UInt8(0xC0 | (v >> 6)))
            scratch.append(UInt8(0x80 | (v & 0x3F)))
        } else if v < 0x10000 {
            scratch.append(UInt8(0xE0 | (v >> 12)))
            scratch.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
            scratch.append(UInt8(0x80 | (v & 0x3F)))
        } else {
            scratch.append(UInt8(0xF0 | (v >> 18)))
            scratch.append(UInt8(0x80 | ((v >> 12) & 0x3F)))
            scratch.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
            scratch.append(UInt8(0x80 | (v & 0x3F)))
        }
    }

    /// Parses an escape sequence at i (pointing at the backslash) into scratch.
    @inline(never)
    mutating func parseEscape() throws {
        let start = i
        let e = p[i + 1]
        switch e {
        case UInt8(ascii: "b"): scratch.append(0x08); i += 2
        case UInt8(ascii: "t"): scratch.append(0x09); i += 2
        case UInt8(ascii: "n"): scratch.append(0x0A); i += 2
        case UInt8(ascii: "f"): scratch.append(0x0C); i += 2
        case UInt8(ascii: "r"): scratch.append(0x0D); i += 2
        case cQuote: scratch.append(cQuote); i += 2
        case cBackslash: scratch.append(cBackslash); i += 2
        case UInt8(ascii: "u"), UInt8(ascii: "U"):
            let len = e == UInt8(ascii: "u") ? 4 : 8
            var v: UInt32 = 0
            for k in 0..<len {
                let h = p[i + 2 + k]
                guard isHexDigit(h) else {
                    throw fail("invalid unicode escape '\(text(start, min(i + 2 + k + 1, n)))' in string: expected \(len) hex digits", at: start)
                }
                v = v &* 16 &+ hexValue(h)
            }
            guard v <= 0x10FFFF && !(0xD800...0xDFFF).contains(v) else {
                throw fail("invalid unicode escape '\(text(start, i + 2 + len))' in string: \(Self.uplus(v)) is not a Unicode scalar value", at: start)
            }
            appendScalar(v)
            i += 2 + len
        default:
            if i + 1 >= n { throw fail("unterminated string", at: start) }
            var len = 1
            if e >= 0xF0 { len = 4 } else if e >= 0xE0 { len = 3 } else if e >= 0xC0 { len = 2 }
            let shown: String
            if e < 0x20 || e == 0x7F { shown = "\\" + Self.uplus(UInt32(e)) } else { shown = text(start, start + 1 + len) }
            throw fail("invalid escape '\(shown)' in string", at: start)
        }
    }

    func controlCharError(_ kind: String) -> _ParseFailure {
        fail("\(describe(at: i)) is not allowed in \(kind)")
    }

    @inline(never)
    mutating func parseBasicString() throws -> String {
        let open = i
        i += 1
        let start = i
        // Fast path: no escapes.
        var high: UInt8 = 0
        while true {
            let c = p[i]
            if c == cQuote {
                let s = high < 0x80 ? asciiString(start, i - start)
                    : String(decoding: UnsafeBufferPointer(start: p + start, count: i - start), as: UTF8.self)
                i += 1
                return s
            }
            high |= c
            if c == cBackslash { break }
            if c < 0x20 && c != cTab || c == 0x7F {
                if c == cLF || c == cCR || (c == 0 && i >= n) { throw fail("unterminated string (opened at \(positionString(open)))", at: i) }
                throw controlCharError("a string")
            }
            i += 1
        }
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: UnsafeBufferPointer(start: p + start, count: i - start))
        while true {
            let c = p[i]
            if c == cQuote {
                i += 1
                return String(decoding: scratch, as: UTF8.self)
            }
            if c == cBackslash { try parseEscape(); continue }
            if c < 0x20 && c != cTab || c == 0x7F {
                if c == cLF || c == cCR || (c == 0 && i >= n) { throw fail("unterminated string (opened at \(positionString(open)))", at: i) }
                throw controlCharError("a string")
            }
            scratch.append(c)
            i += 1
        }
    }

    @inline(never)
    mutating func parseLiteralString() throws -> String {
        let open = i
        i += 1
        let start = i
        var high: UInt8 = 0
        while true {
            let c = p[i]
            if c == cApos {
                let s = high < 0x80 ? asciiString(start, i - start)
                    : String(decoding: UnsafeBufferPointer(start: p + start, count: i - start), as: UTF8.self)
                i += 1
                return s
            }
            high |= c
            if c < 0x20 && c != cTab || c == 0x7F {
                if c == cLF || c == cCR || (c == 0 && i >= n) { throw fail("unterminated string (opened at \(positionString(open)))", at: i) }
                throw controlCharError("a string")
            }
            i += 1
        }
    }

    /// Skips the newline right after an opening delimiter.
    @inline(__always)
    mutating func skipLeadingNewline() {
        if p[i] == cLF { i += 1 } else if p[i] == cCR && p[i + 1] == cLF { i += 2 }
    }

    @inline(never)
    mutating func parseMultilineBasicString() throws -> String {
        let open = i
        i += 3
        skipLeadingNewline()
        scratch.removeAll(keepingCapacity: true)
        while true {
            let c = p[i]
            if c == cQuote {
                if p[i + 1] == cQuote && p[i + 2] == cQuote {
                    var q = 3
                    while p[i + q] == cQuote { q += 1 }
                    if q > 5 { throw fail("too many quotes at the end of a multi-line string", at: i + 5) }
                    for _ in 0..<(q - 3) { scratch.append(cQuote) }
                    i += q
                    return String(decoding: scratch, as: UTF8.self)
                }
                scratch.append(c)
                i += 1
                continue
            }
            if c == cBackslash {
                // Line-ending backslash: whitespace then a newline.
                var j = i + 1
                while p[j] == cSpace || p[j] == cTab { j += 1 }
                if p[j] == cLF || (p[j] == cCR && p[j + 1] == cLF) {
                    i = j
                    while true {
                        let d = p[i]
                        if d == cSpace || d == cTab || d == cLF { i += 1; continue }
                        if d == cCR && p[i + 1] == cLF { i += 2; continue }
                        break
                    }
                    continue
                }
                try parseEscape()
                continue
            }
            if c == cLF || c == cTab || c >= 0x20 && c != 0x7F { scratch.append(c); i += 1; continue }
            if c == cCR && p[i + 1] == cLF { scratch.append(cCR); scratch.append(cLF); i += 2; continue }
            if c == 0 && i >= n { throw fail("unterminated multi-line string (opened at \(positionString(open)))") }
            if c == cCR { throw fail("bare carriage return is not allowed in a string") }
            throw controlCharError("a string")
        }
    }

    @inline(never)
    mutating func parseMultilineLiteralString() throws -> String {
        let open = i
        i += 3
        skipLeadingNewline()
        let start = i
        while true {
            let c = p[i]
            if c == cApos {
                if p[i + 1] == cApos && p[i + 2] == cApos {
                    var q = 3
                    while p[i + q] == cApos { q += 1 }
                    if q > 5 { throw fail("too many quotes at the end of a multi-line string", at: i + 5) }
                    let end = i + q - 3
                    let s = String(decoding: UnsafeBufferPointer(start: p + start, count: end - start), as: UTF8.self)
                    i += q
                    return s
                }
                i += 1
                continue
            }
            if c == cLF || c == cTab || c >= 0x20 && c != 0x7F { i += 1; continue }
            if c == cCR && p[i + 1] == cLF { i += 2; continue }
            if c == 0 && i >= n { throw fail("unterminated multi-line string (opened at \(positionString(open)))") }
            if c == cCR { throw fail("bare carriage return is not allowed in a string") }
            throw controlCharError("a string")
        }
    }

    // MARK: numbers

    /// Reads digits (per `valid`) with single underscores between digits, appending digits to scratch.
    /// Returns the number of digits read.
    @inline(__always)
    mutating func readDigits(_ valid: (UInt8) -> Bool, tokenStart: Int) throws -> Int {
        var count = 0
        while true {
            let c = p[i]
            if valid(c) {
                scratch.append(c)
                count += 1
                i += 1
            } else if c == cUnderscore {
                if count == 0 || !valid(p[i + 1]) {
                    throw fail("invalid number '\(text(tokenStart, tokenEnd(from: tokenStart)))': underscores must be between digits", at: tokenStart)
                }
                i += 1
            } else {
                return count
            }
        }
    }

    @inline(never)
    mutating func parseNumber() throws -> TOMLValue {
        let start = i
        var negative = false
        var c = p[i]
        if c == cPlus || c == cMinus {
            negative = c == cMinus
            i += 1
            c = p[i]
        }
        if c == UInt8(ascii: "i") {
            if p[i + 1] == UInt8(ascii: "n") && p[i + 2] == UInt8(ascii: "f") {
                i += 3
                try checkValueEnd(from: start)
                return .float(negative ? -.infinity : .infinity)
            }
            i = start
            throw invalidValue()
        }
        if c == UInt8(ascii: "n") {
            if p[i + 1] == UInt8(ascii: "a") && p[i + 2] == UInt8(ascii: "n") {
                i += 3
                try checkValueEnd(from: start)
                return .float(.nan)
            }
            i = start
            throw invalidValue()
        }
        if !isDigit(c) {
            i = start
            if c == cDot { throw fail("invalid number '\(text(start, tokenEnd(from: start)))': a float needs a digit before '.'") }
            throw invalidValue()
        }
        // Prefixed integers.
        if c == UInt8(ascii: "0") {
            let r = p[i + 1]
            if r == UInt8(ascii: "x") || r == UInt8(ascii: "o") || r == UInt8(ascii: "b") {
                scratch.removeAll(keepingCapacity: true)
                if i != start {
                    throw fail("invalid number '\(text(start, tokenEnd(from: start)))': hexadecimal, octal and binary integers cannot have a sign", at: start)
                }
                i += 2
                let radix: UInt64
                let count: Int
                if r == UInt8(ascii: "x") {
                    radix = 16
                    count = try readDigits(isHexDigit, tokenStart: start)
                } else if r == UInt8(ascii: "o") {
                    radix = 8
                    count = try readDigits({ $0 &- 0x30 < 8 }, tokenStart: start)
                } else {
                    radix = 2
                    count = try readDigits({ $0 &- 0x30 < 2 }, tokenStart: start)
                }
                if count == 0 {
                    throw fail("invalid number '\(text(start, tokenEnd(from: start)))': missing digits", at: start)
                }
                var v: UInt64 = 0
                for d in scratch {
                    let (m, o1) = v.multipliedReportingOverflow(by: radix)
                    let (a, o2) = m.addingReportingOverflow(UInt64(hexValue(d)))
                    if o1 || o2 || a > UInt64(Int64.max) {
                        throw fail("integer '\(text(start, i))' is out of range (64-bit signed)", at: start)
                    }
                    v = a
                }
                try checkValueEnd(from: start)
                return .integer(Int64(v))
            }
        }
        // Fast path: a plain decimal integer (no underscores, at most 18 digits).
        do {
            var j = i
            var v: UInt64 = 0
            while isDigit(p[j]) && j - i < 18 {
                v = v &* 10 &+ UInt64(p[j] &- 0x30)
                j += 1
            }
            let next = p[j]
            if !(j - i > 1 && p[i] == UInt8(ascii: "0")) && !bareKey[Int(next)] && next != cDot
                && next != cColon && next != cPlus && next < 0x80 {
                i = j
                return .integer(negative ? -Int64(v) : Int64(v))
            }
        }
        scratch.removeAll(keepingCapacity: true)
        let intStart = i
        let intDigits = try readDigits(isDigit, tokenStart: start)
        if intDigits > 1 && p[intStart] == UInt8(ascii: "0") {
            throw fail("invalid number '\(text(start, tokenEnd(from: start)))': leading zeros are not allowed", at: start)
        }
        var isFloat = false
        if p[i] == cDot {
            isFloat = true
            scratch.append(cDot)
            i += 1
            if !isDigit(p[i]) {
                throw fail("invalid number '\(text(start, tokenEnd(from: start)))': expected a digit after '.'", at: start)
            }
            _ = try readDigits(isDigit, tokenStart: start)
        }
        if p[i] | 0x20 == UInt8(ascii: "e") {
            isFloat = true
            scratch.append(UInt8(ascii: "e"))
            i += 1
            if p[i] == cPlus || p[i] == cMinus { scratch.append(p[i]); i += 1 }
            if !isDigit(p[i]) {
                throw fail("invalid number '\(text(start, tokenEnd(from: start)))': expected a digit in the exponent", at: start)
            }
            _ = try readDigits(isDigit, tokenStart: start)
        }
        let c2 = p[i]
        if bareKey[Int(c2)] || c2 == cDot || c2 == cColon || c2 == cPlus || c2 >= 0x80 {
            throw fail("invalid number '\(text(start, tokenEnd(from: start)))'", at: start)
        }
        if isFloat {
            if negative { scratch.insert(cMinus, at: 0) }
            guard let d = Double(String(decoding: scratch, as: UTF8.self)) else {
                throw fail("invalid float '\(text(start, i))'", at: start)
            }
            return .float(d)
        }
        var v: UInt64 = 0
        for d in scratch {
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(d &- 0x30))
            if o1 || o2 { throw fail("integer '\(text(start, i))' is out of range (64-bit signed)", at: start) }
            v = a
        }
        if negative {
            if v > UInt64(Int64.max) + 1 { throw fail("integer '\(text(start, i))' is out of range (64-bit signed)", at: start) }
            return .integer(v == UInt64(Int64.max) + 1 ? Int64.min : -Int64(v))
        }
        if v > UInt64(Int64.max) { throw fail("integer '\(text(start, i))' is out of range (64-bit signed)", at: start) }
        return .integer(Int64(v))
    }

    // MARK: date-times

    @inline(__always)
    func twoDigits(_ at: Int) -> Int? {
        let a = p[at]
        guard isDigit(a) else { return nil }
        let b = p[at + 1]
        guard isDigit(b) else { return nil }
        return Int(a - 0x30) * 10 + Int(b - 0x30)
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    @inline(never)
    mutating func parseDateTime() throws -> TOMLValue {
        let start = i
        func bad(_ what: String) -> _ParseFailure {
            fail("invalid \(what) '\(text(start, tokenEnd(from: start)))'", at: start)
        }
        var date: TOMLDateTime.Date? = nil
        var time: TOMLDateTime.Time? = nil
        var offset: Int? = nil
        if p[i + 2] != cColon {
            // full-date = YYYY-MM-DD
            guard let y1 = twoDigits(i), let y2 = twoDigits(i + 2), p[i + 4] == cMinus,
                  let m = twoDigits(i + 5), p[i + 7] == cMinus, let d = twoDigits(i + 8) else {
                throw bad("date")
            }
            let y = y1 * 100 + y2
            guard (1...12).contains(m) else {
                throw fail("invalid date '\(text(start, i + 10))': month must be 01 to 12", at: start)
            }
            guard d >= 1 && d <= Self.daysIn(month: m, year: y) else {
                throw fail("invalid date '\(text(start, i + 10))': day out of range for the month", at: start)
            }
            date = .init(year: y, month: m, day: d)
            i += 10
            let sep = p[i]
            if sep == UInt8(ascii: "T") || sep == UInt8(ascii: "t") {
                i += 1
            } else if sep == cSpace && isDigit(p[i + 1]) && isDigit(p[i + 2]) && p[i + 3] == cColon {
                i += 1
            } else {
                try checkValueEnd(from: start)
                return .datetime(TOMLDateTime(date: date, time: nil, offsetMinutes: nil))
            }
        }
        // partial-time = HH:MM:SS[.frac]
        let ts = i
        guard let h = twoDigits(i), p[i + 2] == cColon, let mi = twoDigits(i + 3), p[i + 5] == cColon,
              let s = twoDigits(i + 6) else {
            throw bad(date == nil ? "time" : "date-time")
        }
        guard h <= 23 else { throw fail("invalid time '\(text(ts, ts + 8))': hour must be 00 to 23", at: start) }
        guard mi <= 59 else { throw fail("invalid time '\(text(ts, ts + 8))': minute must be 00 to 59", at: start) }
        guard s <= 60 else { throw fail("invalid time '\(text(ts, ts + 8))': second must be 00 to 60", at: start) }
        i += 8
        var fraction = ""
        if p[i] == cDot {
            i += 1
            let fs = i
            while isDigit(p[i]) { i += 1 }
            if i == fs { throw bad("time") }
            fraction = text(fs, i)
        }
        time = .init(hour: h, minute: mi, second: s, fraction: fraction)
        if date != nil {
            let z = p[i]
            if z == UInt8(ascii: "Z") || z == UInt8(ascii: "z") {
                offset = 0
                i += 1
            } else if z == cPlus || z == cMinus {
                guard let oh = twoDigits(i + 1), p[i + 3] == cColon, let om = twoDigits(i + 4) else {
                    throw bad("date-time offset in")
                }
                guard oh <= 23 && om <= 59 else {
                    throw fail("invalid offset '\(text(i, i + 6))' in date-time", at: start)
                }
                offset = (oh * 60 + om) * (z == cMinus ? -1 : 1)
                i += 6
            }
        }
        try checkValueEnd(from: start)
        return .datetime(TOMLDateTime(date: date, time: time, offsetMinutes: offset))
    }

}
