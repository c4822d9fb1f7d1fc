import Foundation
import XCTest
@testable import TetraCore

final class RedactorTests: XCTestCase {
    func testURLCredentials() {
        let r = Redactor()
        XCTAssertEqual(r.redact("https://user:tok@host/x"), "https://user:***@host/x")
        XCTAssertEqual(r.redact("ssh://deploy@host"), "ssh://deploy@host")
        XCTAssertEqual(r.redact("ssh://deploy@staging.example.com:22/srv/acme"), "ssh://deploy@staging.example.com:22/srv/acme")
        XCTAssertEqual(r.redact("https://ghp_token123@github.com/o/r.git"), "https://***@github.com/o/r.git")
        XCTAssertEqual(r.redact("clone https://a:b@h1/x and http://c:d@h2"), "clone https://a:***@h1/x and http://c:***@h2")
        XCTAssertEqual(r.redact("no url here"), "no url here")
        XCTAssertEqual(r.redact("mail me@example.com"), "mail me@example.com")
    }

    func testSecretValues() {
        let r = Redactor(secrets: ["hunter2", "hunter22", "ab"])
        XCTAssertEqual(r.redact("pw=hunter22 and hunter2"), "pw=*** and ***") // longest first
        XCTAssertEqual(r.redact("ab stays"), "ab stays") // too short to redact safely
        XCTAssertEqual(ProcessRequest("mysql", ["-phunter2"], secrets: ["hunter2"]).displayArgv, ["mysql", "-p***"])
    }

    func testAuditLogRedactsArgvAgain() throws {
        let dir = ProcTestSupport.makeTempDir()
        defer { ProcTestSupport.removeTree(dir) }
        let log = AuditLog(path: dir + "/audit.jsonl", redactor: Redactor(secrets: ["s3cr3t"]))
        try log.append(AuditEntry(time: Date(), user: "u", host: "h", command: "library update",
                                  argv: ["tetra", "library", "update", "https://me:s3cr3t@git.example.com/lib.git", "--token=s3cr3t"],
                                  result: "ok", exitCode: 0, durationMs: 5))
        let text = try XCTUnwrap(ProcTestSupport.read(dir + "/audit.jsonl"))
        XCTAssertFalse(text.contains("s3cr3t"), text)
        XCTAssertTrue(text.contains("https://me:***@git.example.com/lib.git"), text)
    }
}
