import Foundation
import XCTest
@testable import TetraCore

/// JSON values, JSON-RPC framing and the capped line reader of the MCP server.
final class MCPJSONRPCTests: XCTestCase {
    func testValuesRoundTripWithOrderAndNumberText() throws {
        let text = #"{"b":1,"a":[true,null,"x\n\"y\"",1.50,-3],"c":{}}"#
        let value = try JSONValue.parse(text)
        XCTAssertEqual(value.serialized, text)
        XCTAssertEqual(value["a"]?.array?[3], .number("1.50"))
        XCTAssertEqual(value["b"]?.integer, 1)
        XCTAssertEqual(JSONValue.quoted("a\u{1}\u{2028}é"), #""a\u0001\u2028é""#)
        XCTAssertEqual(JSONValue.object([("r", .raw(#"{"x":1}"#))]).serialized, #"{"r":{"x":1}}"#)
        XCTAssertThrowsError(try JSONValue.parse("{"))
        XCTAssertThrowsError(try JSONValue.parse(String(repeating: "[", count: 10_000)))
    }

    func testClassification() {
        func decode(_ s: String) -> Result<JSONRPC.Message, JSONRPC.Failure> { JSONRPC.decode(s) }
        XCTAssertEqual(try decode(#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#).get(), .request(id: .number("1"), method: "ping", params: nil))
        XCTAssertEqual(try decode(#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).get(),
                       .notification(method: "notifications/initialized", params: nil))
        XCTAssertEqual(try decode(#"{"jsonrpc":"2.0","id":"a","result":{}}"#).get(), .response(id: .string("a"), result: .object([]), error: nil))
        func failure(_ s: String) -> JSONRPC.Failure? {
            if case .failure(let f) = decode(s) { return f }
            return nil
        }
        XCTAssertEqual(failure("nope")?.code, .parseError)
        XCTAssertEqual(failure("[]")?.code, .invalidRequest)
        XCTAssertEqual(failure("3")?.code, .invalidRequest)
        XCTAssertEqual(failure(#"{"id":1,"method":"ping"}"#), JSONRPC.Failure(id: .number("1"), code: .invalidRequest, message: #"invalid request: "jsonrpc" must be "2.0""#))
        XCTAssertEqual(failure(#"{"jsonrpc":"2.0","id":true,"method":"ping"}"#)?.id, .null)
        XCTAssertEqual(failure(#"{"jsonrpc":"2.0","id":1,"method":5}"#)?.code, .invalidRequest)
        XCTAssertEqual(failure(#"{"jsonrpc":"2.0","id":1,"method":"x","params":3}"#)?.code, .invalidRequest)
        XCTAssertEqual(failure(#"{"jsonrpc":"2.0","id":1}"#)?.code, .invalidRequest)
        XCTAssertEqual(JSONRPC.error(id: .number("7"), code: -32601, message: "m"),
                       #"{"jsonrpc":"2.0","id":7,"error":{"code":-32601,"message":"m"}}"#)
    }

    func testLineReaderCapsLongLines() throws {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        let payload = "first\r\n" + String(repeating: "x", count: 300_000) + "\nthird\nlast-without-newline"
        let writer = fds[1]
        let t = Thread {
            payload.utf8CString.withUnsafeBufferPointer { buf in
                var off = 0
                let n = buf.count - 1
                while off < n { let w = write(writer, buf.baseAddress! + off, n - off); if w <= 0 { break }; off += w }
            }
            close(writer)
        }
        t.start()
        let reader = LineReader(fd: fds[0], limit: 100_000)
        XCTAssertEqual(reader.next(), .text("first"))
        XCTAssertEqual(reader.next(), .tooLong)
        XCTAssertEqual(reader.next(), .text("third"))
        XCTAssertEqual(reader.next(), .text("last-without-newline"))
        XCTAssertEqual(reader.next(), .eof)
        close(fds[0])
    }
}
