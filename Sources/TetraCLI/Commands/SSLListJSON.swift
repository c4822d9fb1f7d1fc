import FoundationEssentials
import Glibc
import TetraCore

/// `ssl list --json` written straight into bytes: the certificates' records in the layout
/// `JSONOutput.encode` prints (pretty, sorted keys, slashes unescaped), without an Encodable
/// per certificate. Only `ssl list` writes this way; every other document goes through
/// `JSONOutput`.
extension SSLCommands {
    /// `{"certificates":[...]}` exactly as `JSONOutput.encode` prints it (pretty, sorted keys,
    /// slashes unescaped); nil (use the encoder) when there is no record.
    static func listJSON(_ records: [SSLService.Record]) -> String? {
        if records.isEmpty { return nil }
        let w = ListJSONWriter(capacity: records.count * 420)
        for r in records { w.add(r) }
        return w.finish().string
    }

    /// `ssl list --json` from `SSLService.scanList`: each meta.toml tetra wrote goes to the
    /// output as byte copies of its fields (TOML basic-string escapes are JSON's), with no
    /// String, Date, array or Record per certificate; other files through a Record. The
    /// writer is nil when no certificate is listed (the encoder writes the empty document).
    static func directListJSON(_ svc: SSLService, now: Date, within window: TimeInterval?) -> (json: ListJSONWriter?, count: Int) {
        // Untouched pages of a large allocation cost nothing: 1 MiB holds ~2,300 certificates
        // without a copy.
        let w = ListJSONWriter(capacity: 1 << 20)
        var count = 0
        svc.scanList(now: now, fast: { m in
            if let window, m.secondsLeft > window { return }
            count += 1
            w.add(m)
        }, slow: { r in
            if let window, let na = Timestamps.parseISO8601(r.not_after), na.timeIntervalSince(now) > window { return }
            count += 1
            w.add(r)
        })
        return (count == 0 ? nil : w.finish(), count)
    }

    /// Writes the records of `{"certificates":[...]}` in the encoder's layout into one
    /// growing malloc'd buffer (memcpy per piece).
    final class ListJSONWriter: @unchecked Sendable {
        private var p: UnsafeMutablePointer<UInt8>
        private var count = 0
        private var capacity: Int
        private var first = true

        init(capacity: Int) {
            self.capacity = max(capacity, 64)
            p = .allocate(capacity: self.capacity)
            put("{\n  \"certificates\" : [\n")
        }

        deinit { p.deallocate() }

        @inline(__always) private func reserve(_ k: Int) {
            if count + k <= capacity { return }
            var c = capacity * 2
            while count + k > c { c *= 2 }
            let q = UnsafeMutablePointer<UInt8>.allocate(capacity: c)
            q.update(from: p, count: count)
            p.deallocate()
            p = q
            capacity = c
        }

        @inline(__always) func put(_ src: UnsafePointer<UInt8>, _ k: Int) {
            reserve(k)
            (p + count).update(from: src, count: k)
            count += k
        }

        func put(_ s: StaticString) { put(s.utf8Start, s.utf8CodeUnitCount) }

        func putInt(_ v: Int) {
            reserve(21)
            if v < 0 { p[count] = 0x2D; count += 1 }
            var x = v.magnitude
            var n = 0
            repeat { n += 1; x /= 10 } while x > 0
            x = v.magnitude
            for k in stride(from: n - 1, through: 0, by: -1) { p[count + k] = UInt8(0x30 + x % 10); x /= 10 }
            count += n
        }

        func quoted(_ s: String) {
            var bytes = [UInt8]()
            appendJSONString(s, to: &bytes)
            bytes.withUnsafeBufferPointer { put($0.baseAddress!, $0.count) }
        }

        @inline(__always) func raw(_ m: MetaBytes, _ r: Range<Int>) {
            reserve(r.count + 2)
            p[count] = 0x22
            (p + count + 1).update(from: m.base + r.lowerBound, count: r.count)
            p[count + 1 + r.count] = 0x22
            count += r.count + 2
        }

        private func open() {
            if first { first = false } else { put(",\n") }
        }

        func add(_ r: SSLService.Record) {
            open()
            put("    {\n      \"days_left\" : "); putInt(r.days_left)
            put(",\n      \"domain\" : "); quoted(r.domain)
            put(",\n      \"expires_at\" : "); quoted(r.not_after)
            put(",\n      \"issuer\" : "); quoted(r.issuer)
            put(",\n      \"key_type\" : "); quoted(r.key_type)
            if r.names.isEmpty {
                put(",\n      \"names\" : [\n\n      ]")
            } else {
                put(",\n      \"names\" : [\n")
                for (k, n) in r.names.enumerated() {
                    put("        "); quoted(n); if k + 1 < r.names.count { put(",\n") } else { put("\n") }
                }
                put("      ]")
            }
            put(",\n      \"origin\" : "); quoted(r.origin.rawValue)
            put(",\n      \"serial\" : "); quoted(r.serial)
            put(",\n      \"starts_at\" : "); quoted(r.not_before)
            put("\n    }")
        }

        func add(_ m: MetaBytes) {
            open()
            put("    {\n      \"days_left\" : "); putInt(m.daysLeft)
            put(",\n      \"domain\" : "); raw(m, m.domain)
            put(",\n      \"expires_at\" : "); raw(m, m.notAfter)
            put(",\n      \"issuer\" : "); raw(m, m.issuer)
            put(",\n      \"key_type\" : "); raw(m, m.keyType)
            if m.names.isEmpty {
                put(",\n      \"names\" : [\n\n      ]")
            } else {
                put(",\n      \"names\" : [\n")
                let last = m.names.count - 1
                for k in 0...last {
                    put("        "); raw(m, m.names[k]); if k < last { put(",\n") } else { put("\n") }
                }
                put("      ]")
            }
            put(",\n      \"origin\" : "); raw(m, m.source)
            put(",\n      \"serial\" : "); raw(m, m.serial)
            put(",\n      \"starts_at\" : "); raw(m, m.notBefore)
            put("\n    }")
        }

        /// Closes the document; `string` is it without the final newline, `write` prints it
        /// with one.
        func finish() -> ListJSONWriter {
            put("\n  ]\n}\n")
            return self
        }

        var string: String { String(decoding: UnsafeBufferPointer(start: p, count: count - 1), as: UTF8.self) }

        func write(_ sink: OutputSink) { sink.write(bytes: UnsafeRawBufferPointer(start: p, count: count)) }
    }

    /// A JSON string as Foundation's encoder writes it (with .withoutEscapingSlashes).
    static func jsonQuote(_ s: String) -> String {
        var out = [UInt8]()
        appendJSONString(s, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    static func appendJSONString(_ s: String, to out: inout [UInt8]) {
        out.append(0x22)
        if !s.utf8.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }) {
            out.append(contentsOf: s.utf8)
            out.append(0x22)
            return
        }
        for c in s.utf8 {
            switch c {
            case 0x22: out += [0x5C, 0x22]
            case 0x5C: out += [0x5C, 0x5C]
            case 0x0A: out += [0x5C, 0x6E]
            case 0x0D: out += [0x5C, 0x72]
            case 0x09: out += [0x5C, 0x74]
            case 0x08: out += [0x5C, 0x62]
            case 0x0C: out += [0x5C, 0x66]
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out += [0x5C, 0x75, 0x30, 0x30, hex[Int(c >> 4)], hex[Int(c & 15)]]
            default: out.append(c)
            }
        }
        out.append(0x22)
    }
}
