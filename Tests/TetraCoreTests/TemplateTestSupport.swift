import XCTest
@testable import TetraCore

/// Base class of the template tests: small builders and assertions (kept as members so
/// they cannot clash with other helpers in the test module).
class TemplateTestCase: XCTestCase {
    /// A context; `ctx(["a": .string("x")])` keeps the key order as written.
    func ctx(_ pairs: KeyValuePairs<String, TOMLValue>) -> TOMLTable {
        TOMLTable(pairs.map { ($0.key, $0.value) })
    }

    func tbl(_ pairs: KeyValuePairs<String, TOMLValue>) -> TOMLValue {
        .table(ctx(pairs))
    }

    func strs(_ items: String...) -> TOMLValue {
        .array(items.map { .string($0) })
    }

    /// Renders `source` (named `t.tmpl`) with partials given as sources.
    func render(_ source: String, _ context: TOMLTable = TOMLTable(), partials: [String: String]? = nil) throws -> String {
        let provider = try partials.map { try TemplatePartials(sources: $0) }
        return try Template(source: source, name: "t.tmpl").render(context, partials: provider)
    }

    /// `assertError(source, message)` with an empty context.
    func assertError(_ source: String, partials: [String: String]? = nil, _ message: String,
                     file: StaticString = #filePath, line: UInt = #line) {
        assertError(source, TOMLTable(), partials: partials, message, file: file, line: line)
    }

    /// Asserts that parsing or rendering fails with exactly `message` (`file:line:col: ...`).
    func assertError(_ source: String, _ context: TOMLTable, partials: [String: String]? = nil,
                     _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        do {
            let out = try render(source, context, partials: partials)
            XCTFail("expected an error, rendered \(out.debugDescription)", file: file, line: line)
        } catch let error as ConfigError {
            XCTAssertEqual(error.message, message, file: file, line: line)
            XCTAssertEqual(error.exitCode, .invalidConfig, file: file, line: line)
            XCTAssertEqual(error.problems.count, 1, file: file, line: line)
        } catch {
            XCTFail("unexpected error \(error)", file: file, line: line)
        }
    }
}
