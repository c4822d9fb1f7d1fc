import FoundationEssentials

/// A JSON value as a host's tetra printed it: read whole, kept as it was, written again (the
/// rows of `svc ... --env` are the hosts' own records with a `host` key added).
public enum HostJSON: Codable, Sendable, Equatable {
    case string(String)
    case integer(Int64)
    case number(Double)
    case bool(Bool)
    case array([HostJSON])
    case object([String: HostJSON])
    case null

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let v = try? c.decode(Bool.self) { self = .bool(v) }
        else if let v = try? c.decode(Int64.self) { self = .integer(v) }
        else if let v = try? c.decode(Double.self) { self = .number(v) }
        else if let v = try? c.decode(String.self) { self = .string(v) }
        else if let v = try? c.decode([HostJSON].self) { self = .array(v) }
        else { self = .object(try c.decode([String: HostJSON].self)) }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .string(let v): try c.encode(v)
        case .integer(let v): try c.encode(v)
        case .number(let v): try c.encode(v)
        case .bool(let v): try c.encode(v)
        case .array(let v): try c.encode(v)
        case .object(let v): try c.encode(v)
        case .null: try c.encodeNil()
        }
    }

    public subscript(key: String) -> HostJSON? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    /// A scalar as a table cell (nil for an absent key, a list or an object).
    public var text: String? {
        switch self {
        case .string(let v): return v
        case .integer(let v): return String(v)
        case .number(let v): return String(v)
        case .bool(let v): return v ? "yes" : "no"
        default: return nil
        }
    }

    public var object: [String: HostJSON]? {
        if case .object(let o) = self { return o }
        return nil
    }

    public var array: [HostJSON]? {
        if case .array(let a) = self { return a }
        return nil
    }
}
