import Glibc

/// JSON-RPC 2.0 as MCP's stdio transport uses it: one message per line, no batches.
public enum JSONRPC {
    /// The standard error codes.
    public enum Code: Int, Sendable {
        case parseError = -32700
        case invalidRequest = -32600
        case methodNotFound = -32601
        case invalidParams = -32602
        case internalError = -32603
    }

    /// A message that came in, sorted by what it is.
    public enum Message: Sendable, Equatable {
        case request(id: JSONValue, method: String, params: JSONValue?)
        case notification(method: String, params: JSONValue?)
        /// An answer to a request this side sent (`result`, or `error` with its code).
        case response(id: JSONValue, result: JSONValue?, error: JSONValue?)
    }

    /// Why a line is not a message: the code and text for the error response, and the id to
    /// answer with (null when the line had none, or no valid one).
    public struct Failure: Error, Sendable, Equatable {
        public var id: JSONValue
        public var code: Code
        public var message: String
        public init(id: JSONValue = .null, code: Code, message: String) {
            self.id = id
            self.code = code
            self.message = message
        }
    }

    /// Reads one line's message: -32700 when it is not JSON, -32600 when it is JSON but not a
    /// JSON-RPC 2.0 request, notification or response (a batch array included: MCP 2025-06-18
    /// removed them).
    public static func decode(_ line: String) -> Result<Message, Failure> {
        let value: JSONValue
        do { value = try JSONValue.parse(line) } catch let e as JSONValue.Malformed {
            return .failure(Failure(code: .parseError, message: "parse error: \(e.message)"))
        } catch {
            return .failure(Failure(code: .parseError, message: "parse error"))
        }
        return classify(value)
    }

    public static func classify(_ value: JSONValue) -> Result<Message, Failure> {
        guard value.isObject else {
            let what = value.array != nil ? "batches are not supported: send one message per line" : "a message must be a JSON object"
            return .failure(Failure(code: .invalidRequest, message: "invalid request: \(what)"))
        }
        let rawID = value["id"]
        let id: JSONValue? = rawID.flatMap { ($0.string != nil || $0.isNumber) ? $0 : nil }
        guard value["jsonrpc"]?.string == "2.0" else {
            return .failure(Failure(id: id ?? .null, code: .invalidRequest, message: "invalid request: \"jsonrpc\" must be \"2.0\""))
        }
        if let methodValue = value["method"] {
            guard let method = methodValue.string else {
                return .failure(Failure(id: id ?? .null, code: .invalidRequest, message: "invalid request: \"method\" must be a string"))
            }
            let params = value["params"]
            if let params, !params.isObject, params.array == nil {
                return .failure(Failure(id: id ?? .null, code: .invalidRequest, message: "invalid request: \"params\" must be an object"))
            }
            guard rawID != nil else { return .success(.notification(method: method, params: params)) }
            guard let id else {
                return .failure(Failure(code: .invalidRequest, message: "invalid request: \"id\" must be a string or a number"))
            }
            return .success(.request(id: id, method: method, params: params))
        }
        if let id, value["result"] != nil || value["error"] != nil {
            return .success(.response(id: id, result: value["result"], error: value["error"]))
        }
        return .failure(Failure(id: id ?? .null, code: .invalidRequest, message: "invalid request: no \"method\""))
    }

    // MARK: - writing (each one line of compact JSON, without its newline)

    public static func result(id: JSONValue, _ result: JSONValue) -> String {
        JSONValue.object([("jsonrpc", .string("2.0")), ("id", id), ("result", result)]).serialized
    }

    public static func error(id: JSONValue, code: Int, message: String, data: JSONValue? = nil) -> String {
        var body: [(String, JSONValue)] = [("code", .int(code)), ("message", .string(message))]
        if let data { body.append(("data", data)) }
        return JSONValue.object([("jsonrpc", .string("2.0")), ("id", id), ("error", .object(body))]).serialized
    }

    public static func error(_ failure: Failure) -> String {
        error(id: failure.id, code: failure.code.rawValue, message: failure.message)
    }

    public static func request(id: JSONValue, method: String, params: JSONValue) -> String {
        JSONValue.object([("jsonrpc", .string("2.0")), ("id", id), ("method", .string(method)), ("params", params)]).serialized
    }

    public static func notification(method: String, params: JSONValue) -> String {
        JSONValue.object([("jsonrpc", .string("2.0")), ("method", .string(method)), ("params", params)]).serialized
    }
}

/// Where protocol lines come from: standard input for the server, a list in tests.
public protocol LineSource: AnyObject {
    func next() -> LineReader.Line
}

/// Reads newline-terminated lines from a file descriptor with a cap on their length: a line
/// longer than `limit` bytes is skipped to its end and reported as `tooLong` (never held in
/// memory whole), so a peer cannot make the reader grow without bound.
public final class LineReader: LineSource {
    public enum Line: Sendable, Equatable {
        case text(String)
        case tooLong
        case eof
    }

    /// 4 MiB: larger than any request a client sends (the largest is a tool call's arguments).
    public static let defaultLimit = 4 << 20

    private let fd: Int32
    private let limit: Int
    private var buffer: [UInt8] = []
    private var start = 0
    private var atEOF = false
    private var chunk = [UInt8](repeating: 0, count: 64 << 10)

    public init(fd: Int32, limit: Int = LineReader.defaultLimit) {
        self.fd = fd
        self.limit = limit
    }

    public func next() -> Line {
        var skipping = false
        var scanFrom = start
        while true {
            if let nl = buffer[scanFrom...].firstIndex(of: 0x0A) {
                let line = buffer[start..<nl]
                start = nl + 1
                compact()
                if skipping { return .tooLong }
                var text = String(decoding: line, as: UTF8.self)
                if text.hasSuffix("\r") { text.removeLast() }
                return .text(text)
            }
            if buffer.count - start > limit {
                // Too long: drop what we have and keep dropping until the newline.
                skipping = true
                buffer.removeAll(keepingCapacity: true)
                start = 0
            }
            scanFrom = buffer.count
            if atEOF || !fill() {
                atEOF = true
                if skipping { buffer.removeAll(); start = 0; return .tooLong }
                if start < buffer.count {
                    let text = String(decoding: buffer[start...], as: UTF8.self)
                    buffer.removeAll()
                    start = 0
                    return .text(text)
                }
                return .eof
            }
        }
    }

    private func compact() {
        if start > 0, start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        } else if start > (1 << 20) {
            buffer.removeFirst(start)
            start = 0
        }
    }

    /// Reads more bytes; false at end of input (or an error other than EINTR).
    private func fill() -> Bool {
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                buffer.append(contentsOf: chunk[0..<n])
                return true
            }
            if n < 0, errno == EINTR { continue }
            return false
        }
    }
}
