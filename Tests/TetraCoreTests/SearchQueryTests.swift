import FoundationEssentials
import XCTest
@testable import TetraCore

final class SearchQueryTests: XCTestCase {
    func testTermsFiltersPhrasesAndNegation() throws {
        let q = try SearchQuery.parse(#"api  kind:svc tag:team:pay "Payment API" -env:dev expires<=30d"#)
        XCTAssertEqual(q.clauses.map(\.term), [
            .word("api"), .filter(.kind, "service"), .filter(.tag, "team:pay"), .word("payment api"),
            .filter(.env, "dev"), .expires(.lessOrEqual, 30 * 86_400),
        ])
        XCTAssertEqual(q.clauses.map(\.negated), [false, false, false, false, true, false])
        XCTAssertEqual(try SearchQuery.parse("").clauses, [])
        XCTAssertEqual(try SearchQuery.parse("KIND:Certs").clauses.map(\.term), [.filter(.kind, "certificate")])
        XCTAssertEqual(try SearchQuery.parse("expires>7d").clauses.map(\.term), [.expires(.greater, 7 * 86_400)])
        XCTAssertEqual(try SearchQuery.parse("a-b").clauses.map(\.term), [.word("a-b")])
    }

    func testMalformedQueriesNameTheColumn() {
        let cases: [(String, Int, String)] = [
            (#"api "unclosed"#, 5, "unclosed quote"),
            ("kind:svc colour:red", 10, "unknown filter 'colour:'"),
            ("tag:", 5, "a value is missing"),
            ("kind:widget", 6, "unknown kind 'widget'"),
            ("expires<soon", 9, "is not a duration"),
            ("expires<", 9, "a duration is missing"),
            ("cpu>80", 4, "only 'expires' compares"),
            (#"x """#, 3, "an empty phrase"),
        ]
        for (text, column, reason) in cases {
            XCTAssertThrowsError(try SearchQuery.parse(text), text) { error in
                guard let p = error as? SearchQuery.Problem else { return XCTFail("\(error)") }
                XCTAssertEqual(p.column, column, text)
                XCTAssertTrue(p.reason.contains(reason), "\(text): \(p.reason)")
                XCTAssertEqual(p.exitCode, .usage)
                XCTAssertTrue(p.message.hasSuffix(String(repeating: " ", count: column - 1) + "^"), p.message)
            }
        }
    }

    func testMatching() throws {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let cert = SearchResource(kind: .certificate, name: "shop.example", tags: ["edge"], state: "valid",
                                  expiresAt: now.addingTimeInterval(10 * 86_400))
        let svc = SearchResource(kind: .service, name: "payments-api", org: "shop", description: "Takes the money",
                                 tags: ["team:pay", "critical"], state: "running")
        let release = SearchResource(kind: .release, name: "20261206T000000Z-abcdef1", org: "shop", env: "prod", host: "web1,web2",
                                     commit: "abc123def")
        func hits(_ q: String) throws -> [String] {
            let query = try SearchQuery.parse(q)
            return [cert, svc, release].filter { query.matches($0, now: now) }.map(\.name)
        }
        XCTAssertEqual(try hits("api"), ["payments-api"])
        XCTAssertEqual(try hits("MONEY"), ["payments-api"], "descriptions match, any case")
        XCTAssertEqual(try hits("tag:team:pay"), ["payments-api"])
        XCTAssertEqual(try hits("tag:team"), [], "a tag matches whole")
        XCTAssertEqual(try hits("state:running"), ["payments-api"])
        XCTAssertEqual(try hits("expires<30d"), ["shop.example"])
        XCTAssertEqual(try hits("expires<7d"), [])
        XCTAssertEqual(try hits("expires>=10d"), ["shop.example"])
        XCTAssertEqual(try hits("host:web2"), ["20261206T000000Z-abcdef1"])
        XCTAssertEqual(try hits("commit:ABC1"), ["20261206T000000Z-abcdef1"])
        XCTAssertEqual(try hits("org:shop -kind:release"), ["payments-api"])
        XCTAssertEqual(try hits("-tag:critical"), ["shop.example", "20261206T000000Z-abcdef1"])
    }

    func testKindsNarrowWhatIsRead() throws {
        XCTAssertNil(try SearchQuery.parse("api").kinds)
        XCTAssertEqual(try SearchQuery.parse("kind:svc kind:port").kinds, [.service, .port])
        XCTAssertEqual(try SearchQuery.parse("expires<30d").kinds, [.certificate])
        XCTAssertEqual(try SearchQuery.parse("-kind:volume").kinds, Set(SearchKind.allCases).subtracting([.volume]))
    }

    func testTagGrammar() {
        XCTAssertNil(Tags.problem(with: "team:pay"))
        XCTAssertNil(Tags.problem(with: "critical"))
        XCTAssertNotNil(Tags.problem(with: "Team"))
        XCTAssertNotNil(Tags.problem(with: ":x"))
        XCTAssertNotNil(Tags.problem(with: "a b"))
        XCTAssertNotNil(Tags.problem(with: String(repeating: "a", count: 64)))
        XCTAssertEqual(Tags.problems(["a", "a", "B"]).count, 2)
    }
}
