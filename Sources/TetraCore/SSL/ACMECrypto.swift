import FoundationEssentials

/// base64url without padding (RFC 7515 §2), as every JOSE field is written.
public enum Base64URL {
    public static func encode(_ data: Data) -> String {
        data.base64EncodedString()
            .replacingAll("+", with: "-")
            .replacingAll("/", with: "_")
            .replacingAll("=", with: "")
    }

    public static func encode(_ string: String) -> String { encode(Data(string.utf8)) }

    public static func decode(_ text: String) -> Data? {
        guard text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else { return nil }
        var s = text.replacingAll("-", with: "+").replacingAll("_", with: "/")
        while s.count % 4 != 0 { s += "=" }
        return Data(base64Encoded: s)
    }
}

/// A minimal DER reader: enough for ECDSA signatures (SEQUENCE of two INTEGERs) and
/// SubjectPublicKeyInfo structures (algorithm OID, EC point, RSA modulus and exponent).
public struct DERNode: Sendable, Equatable {
    public var tag: UInt8
    public var content: [UInt8]

    public var isConstructed: Bool { tag & 0x20 != 0 }

    /// The children of a constructed node (SEQUENCE, SET).
    public func children() throws -> [DERNode] { try DERNode.parseAll(content[...]) }

    public static func parse(_ bytes: [UInt8]) throws -> DERNode {
        var slice = bytes[...]
        let node = try next(&slice)
        guard slice.isEmpty else { throw DERError("trailing bytes after DER value") }
        return node
    }

    static func parseAll(_ bytes: ArraySlice<UInt8>) throws -> [DERNode] {
        var slice = bytes
        var out: [DERNode] = []
        while !slice.isEmpty { out.append(try next(&slice)) }
        return out
    }

    static func next(_ slice: inout ArraySlice<UInt8>) throws -> DERNode {
        guard let tag = slice.popFirst() else { throw DERError("truncated DER (tag)") }
        guard let first = slice.popFirst() else { throw DERError("truncated DER (length)") }
        var length = 0
        if first & 0x80 == 0 {
            length = Int(first)
        } else {
            let count = Int(first & 0x7F)
            guard count > 0, count <= 4, slice.count >= count else { throw DERError("bad DER length") }
            for _ in 0..<count { length = (length << 8) | Int(slice.removeFirst()) }
        }
        guard slice.count >= length else { throw DERError("truncated DER (content)") }
        let content = Array(slice.prefix(length))
        slice = slice.dropFirst(length)
        return DERNode(tag: tag, content: content)
    }

    /// An INTEGER's magnitude without leading zero bytes.
    public var unsignedInteger: [UInt8] {
        var bytes = content[...]
        while bytes.count > 1, bytes.first == 0 { bytes = bytes.dropFirst() }
        return Array(bytes)
    }
}

public struct DERError: TetraError, Equatable {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var exitCode: ExitCode { .toolFailed }
    public var kind: String { "tool_failed" }
    public var message: String { "unexpected output from openssl: \(reason)" }
    public var hint: String? { nil }
}

/// Key types for certificate and account keys.
public enum SSLKeyType: String, Sendable, Codable, CaseIterable {
    case ec256
    case rsa2048

    /// The JWS algorithm an account key of this type signs with.
    public var jwsAlgorithm: String { self == .ec256 ? "ES256" : "RS256" }
}

/// A public key read from a SubjectPublicKeyInfo (DER), as a JWK (RFC 7517).
public enum PublicKeyJWK: Sendable, Equatable {
    case ec256(x: [UInt8], y: [UInt8])
    case rsa(n: [UInt8], e: [UInt8])

    static let ecPublicKeyOID: [UInt8] = [0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01]          // 1.2.840.10045.2.1
    static let p256OID: [UInt8] = [0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07]            // 1.2.840.10045.3.1.7
    static let rsaEncryptionOID: [UInt8] = [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01] // 1.2.840.113549.1.1.1

    /// Parses `openssl pkey -pubout -outform DER`.
    public init(spki der: [UInt8]) throws {
        let top = try DERNode.parse(der).children()
        guard top.count == 2, top[0].tag == 0x30, top[1].tag == 0x03 else { throw DERError("not a SubjectPublicKeyInfo") }
        let algorithm = try top[0].children()
        guard let oid = algorithm.first, oid.tag == 0x06 else { throw DERError("no algorithm identifier") }
        let bits = Array(top[1].content.dropFirst()) // first byte: unused bits
        if oid.content == Self.ecPublicKeyOID {
            guard algorithm.count == 2, algorithm[1].content == Self.p256OID else { throw DERError("EC key is not on P-256") }
            guard bits.count == 65, bits[0] == 0x04 else { throw DERError("EC point is not uncompressed P-256") }
            self = .ec256(x: Array(bits[1...32]), y: Array(bits[33...64]))
        } else if oid.content == Self.rsaEncryptionOID {
            let key = try DERNode.parse(bits).children()
            guard key.count == 2, key[0].tag == 0x02, key[1].tag == 0x02 else { throw DERError("bad RSA public key") }
            self = .rsa(n: key[0].unsignedInteger, e: key[1].unsignedInteger)
        } else {
            throw DERError("unsupported key algorithm (use ec256 or rsa2048)")
        }
    }

    public var keyType: SSLKeyType {
        switch self {
        case .ec256: return .ec256
        case .rsa: return .rsa2048
        }
    }

    /// The JWK with its members in lexicographic order and no whitespace: the form RFC 7638
    /// hashes for the thumbprint, also fine as the `jwk` header member.
    public var canonicalJSON: String {
        switch self {
        case .ec256(let x, let y):
            return #"{"crv":"P-256","kty":"EC","x":"\#(Base64URL.encode(Data(x)))","y":"\#(Base64URL.encode(Data(y)))"}"#
        case .rsa(let n, let e):
            return #"{"e":"\#(Base64URL.encode(Data(e)))","kty":"RSA","n":"\#(Base64URL.encode(Data(n)))"}"#
        }
    }

    /// RFC 7638 thumbprint (SHA-256, base64url): the second half of an HTTP-01 key authorization.
    public var thumbprint: String {
        var h = SHA256()
        h.update(canonicalJSON)
        return Base64URL.encode(Data(h.finalize()))
    }
}

public enum ECDSASignature {
    /// openssl writes ECDSA signatures as DER `SEQUENCE { INTEGER r, INTEGER s }`; JWS (ES256)
    /// wants the raw 64 bytes `r || s`, each left-padded to 32 bytes (RFC 7518 §3.4).
    public static func rawFromDER(_ der: [UInt8], size: Int = 32) throws -> Data {
        let parts = try DERNode.parse(der).children()
        guard parts.count == 2, parts[0].tag == 0x02, parts[1].tag == 0x02 else { throw DERError("not an ECDSA signature") }
        var out = Data()
        for part in parts {
            let v = part.unsignedInteger
            guard v.count <= size else { throw DERError("ECDSA signature component longer than \(size) bytes") }
            out.append(contentsOf: [UInt8](repeating: 0, count: size - v.count) + v)
        }
        return out
    }
}

/// PEM helpers.
public enum PEM {
    /// The PEM blocks of a bundle (each with its BEGIN/END lines and a final newline).
    public static func blocks(_ text: String) -> [String] {
        var out: [String] = []
        var current: [Substring] = []
        var inside = false
        for line in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            let l = line.trimming(.whitespaces)
            if l.hasPrefix("-----BEGIN ") { inside = true; current = [] }
            if inside { current.append(Substring(l)) }
            if l.hasPrefix("-----END ") && inside {
                out.append(current.joined(separator: "\n") + "\n")
                inside = false
            }
        }
        return out
    }

    public static func certificates(_ text: String) -> [String] {
        blocks(text).filter { $0.hasPrefix("-----BEGIN CERTIFICATE-----") }
    }
}
