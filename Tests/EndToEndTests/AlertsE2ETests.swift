import Foundation
import XCTest

/// `tetra alerts` against a real HTTP receiver (python3's http.server, recording every POSTed
/// body), a real command notifier, real curl and a real certificate; the webhook URL comes
/// from a secret and must appear nowhere: output, JSON, history, audit, state, curl's argv.
final class AlertsE2ETests: XCTestCase {
    /// A receiver on 127.0.0.1: records each body as one line of `bodies`, answers `status`.
    final class Receiver {
        let process = Process()
        let bodies: String
        let port: Int

        init(dir: String, status: Int, python: String) throws {
            bodies = dir + "/bodies-\(status).jsonl"
            let script = dir + "/receiver.py"
            try """
            import http.server, sys
            class H(http.server.BaseHTTPRequestHandler):
                def do_POST(self):
                    body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
                    with open(sys.argv[1], 'ab') as f:
                        f.write(body.replace(b'\\n', b' ') + b'\\n')
                    self.send_response(int(sys.argv[2]))
                    self.end_headers()
                def log_message(self, *args):
                    pass
            server = http.server.HTTPServer(('127.0.0.1', 0), H)
            print(server.server_address[1], flush=True)
            server.serve_forever()
            """.write(toFile: script, atomically: true, encoding: .utf8)
            process.executableURL = URL(fileURLWithPath: python)
            process.arguments = [script, bodies, String(status)]
            let out = Pipe()
            process.standardOutput = out
            try process.run()
            var line = Data()
            while !line.contains(0x0A) {
                let chunk = out.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                line.append(chunk)
            }
            guard let p = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
                process.terminate()
                throw XCTSkip("the python receiver did not start")
            }
            port = p
        }

        var received: [[String: Any]] {
            let text = (try? String(contentsOfFile: bodies, encoding: .utf8)) ?? ""
            return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        }

        func stop() {
            process.terminate()
            process.waitUntilExit()
        }
    }

    var receivers: [Receiver] = []
    override func tearDown() { receivers.forEach { $0.stop() } }

    let token = "T0KEN-d41d8cd98f00b204"

    /// An org with a webhook from a secret, a command notifier, and a curl on PATH that logs
    /// its argv before running the real one.
    func setUpOrg(_ t: inout Tetra, url: String, rules: String) throws -> (argvLog: String, commandOut: String) {
        let curl = try requireTool("curl")
        XCTAssertEqual(try t.run(["org", "create", "acme"]).status, 0)
        let org = t.stateRoot + "/orgs/acme"
        let bin = t.stateRoot + "-bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        let argvLog = bin + "/curl-argv.log"
        try "#!/bin/sh\nprintf '%s\\n' \"$*\" >> \(argvLog)\nexec \(curl) \"$@\"\n".write(toFile: bin + "/curl", atomically: true, encoding: .utf8)
        let commandOut = bin + "/page-stdin.json"
        try "#!/bin/sh\ncat > \(commandOut)\n".write(toFile: org + "/page.sh", atomically: true, encoding: .utf8)
        for f in [bin + "/curl", org + "/page.sh"] { chmod(f, 0o755) }
        t.environment["PATH"] = bin + ":" + (t.environment["PATH"] ?? "/usr/bin:/bin")
        try "OPS_WEBHOOK=\(url)\n".write(toFile: org + "/secrets.env", atomically: true, encoding: .utf8)
        chmod(org + "/secrets.env", 0o600)
        let text = try String(contentsOfFile: org + "/org.toml", encoding: .utf8) + rules + """

            [notifiers.ops]
            webhook = "{{ secrets.OPS_WEBHOOK }}"

            [notifiers.page]
            command = ["./page.sh"]

            """
        try text.write(toFile: org + "/org.toml", atomically: true, encoding: .utf8)
        return (argvLog, commandOut)
    }

    /// Every file under the state root and next to it, and every output, without the secret.
    func assertNoLeak(_ t: Tetra, outputs: [String], argvLog: String, file: StaticString = #filePath, line: UInt = #line) throws {
        for (i, out) in outputs.enumerated() { XCTAssertFalse(out.contains(token), "output \(i) shows the webhook's secret", file: file, line: line) }
        let argv = (try? String(contentsOfFile: argvLog, encoding: .utf8)) ?? ""
        XCTAssertFalse(argv.isEmpty, "curl was run", file: file, line: line)
        XCTAssertFalse(argv.contains(token) || argv.contains("127.0.0.1"), "curl's argv has the URL: \(argv)", file: file, line: line)
        let grep = try Tetra.exec("/bin/grep", ["-rl", token, t.stateRoot + "/state"])
        XCTAssertEqual(grep.stdout, "", "files under state/ hold the secret", file: file, line: line)
    }

    func testTestSendsAV4PayloadToTheReceiverAndTheCommand() throws {
        let python = try requireTool("python3")
        var t = Tetra()
        let receiver = try Receiver(dir: t.stateRoot, status: 200, python: python)
        receivers.append(receiver)
        let (argvLog, commandOut) = try setUpOrg(&t, url: "http://127.0.0.1:\(receiver.port)/hook/\(token)", rules: """

            [[alerts]]
            name = "web-hot"
            service = "web"
            when = "cpu > 80%"
            for = "1m"
            notify = ["ops", "page"]

            """)
        let validate = try t.run(["org", "validate", "acme", "--json"])
        XCTAssertFalse(validate.stdout.contains("alerts."), validate.stdout)
        let r = try t.run(["alerts", "test", "web-hot"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "ops: delivered\npage: delivered\n")
        let bodies = receiver.received
        XCTAssertEqual(bodies.count, 1)
        let body = try XCTUnwrap(bodies.first)
        XCTAssertEqual(body["version"] as? String, "4")
        XCTAssertEqual(body["status"] as? String, "firing")
        XCTAssertEqual(body["receiver"] as? String, "ops")
        let alert = try XCTUnwrap((body["alerts"] as? [[String: Any]])?.first)
        let labels = try XCTUnwrap(alert["labels"] as? [String: String])
        XCTAssertEqual(labels["alertname"], "web-hot")
        XCTAssertEqual(labels["service"], "web")
        XCTAssertEqual(labels["test"], "true")
        XCTAssertEqual(alert["endsAt"] as? String, "0001-01-01T00:00:00Z")
        let piped = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: commandOut))) as? [String: Any]
        XCTAssertEqual(piped?["version"] as? String, "4", "the command got the same JSON on stdin")
        XCTAssertEqual(piped?["receiver"] as? String, "page")
        let json = try t.run(["alerts", "history", "--json"])
        XCTAssertTrue(json.stdout.contains("\"status\" : \"test\""), json.stdout)
        let list = try t.run(["alerts", "list", "--json"])
        try assertNoLeak(t, outputs: [r.stdout, r.stderr, json.stdout, list.stdout, validate.stdout], argvLog: argvLog)
    }

    func testAFailingOrDownReceiverIsRetriedAndRecordedAsFailed() throws {
        let python = try requireTool("python3")
        var t = Tetra()
        let failing = try Receiver(dir: t.stateRoot, status: 500, python: python)
        receivers.append(failing)
        let (argvLog, _) = try setUpOrg(&t, url: "http://127.0.0.1:\(failing.port)/hook/\(token)", rules: """

            [[alerts]]
            name = "down"
            when = "state == failed"
            notify = ["ops"]

            """)
        let started = Date()
        let r = try t.run(["alerts", "test", "down", "--json"])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(started), 3, "backoff 1s then 2s")
        XCTAssertEqual(failing.received.count, 3, "three attempts")
        XCTAssertTrue(r.stdout.contains("\"error\" : \"HTTP 500\""), r.stdout)
        // A receiver that is down: curl cannot connect.
        failing.stop()
        receivers = []
        let down = try t.run(["alerts", "test", "down"])
        XCTAssertEqual(down.status, 1)
        XCTAssertEqual(down.stdout, "ops: failed after 3 attempts (curl: could not connect (exit 7))\n")
        let history = try t.run(["alerts", "history", "--json"])
        let entries = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(history.stdout.utf8)) as? [String: Any])?["entries"] as? [[String: Any]])
        XCTAssertEqual(entries.map { $0["result"] as? String }, ["failed", "failed"])
        try assertNoLeak(t, outputs: [r.stdout, r.stderr, down.stdout, down.stderr, history.stdout], argvLog: argvLog)
    }

    func testCheckFiresForAnExpiringCertificateOnceAndResolves() throws {
        let python = try requireTool("python3")
        _ = try requireTool("openssl")
        var t = Tetra()
        let receiver = try Receiver(dir: t.stateRoot, status: 200, python: python)
        receivers.append(receiver)
        let (argvLog, _) = try setUpOrg(&t, url: "http://127.0.0.1:\(receiver.port)/hook/\(token)", rules: """

            [[alerts]]
            name = "cert-expiring"
            when = "cert_days_left < 14"
            notify = ["ops"]

            """)
        XCTAssertEqual(try t.run(["ssl", "generate", "soon.test", "--self-signed", "--days", "5"]).status, 0)
        XCTAssertEqual(try t.run(["ssl", "generate", "later.test", "--self-signed", "--days", "60"]).status, 0)
        let first = try t.run(["alerts", "check", "--json"])
        XCTAssertEqual(first.status, 1, "an alert is firing: " + first.stderr)
        let doc = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(first.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(doc["firing"] as? Int, 1)
        let rows = try XCTUnwrap(doc["alerts"] as? [[String: Any]])
        XCTAssertEqual(rows.map { $0["domain"] as? String }, ["soon.test"])
        XCTAssertEqual(rows.first?["value"] as? String, "4d")
        XCTAssertEqual(rows.first?["sent"] as? String, "firing")
        XCTAssertEqual(receiver.received.count, 1)
        let labels = ((receiver.received.first?["alerts"] as? [[String: Any]])?.first?["labels"]) as? [String: String]
        XCTAssertEqual(labels?["domain"], "soon.test")
        XCTAssertEqual(labels?["alertname"], "cert-expiring")
        // Still firing: not sent again.
        let second = try t.run(["alerts", "check"])
        XCTAssertEqual(second.status, 1)
        XCTAssertEqual(receiver.received.count, 1)
        // Renewed for longer: resolved.
        XCTAssertEqual(try t.run(["ssl", "delete", "soon.test", "--yes"]).status, 0)
        XCTAssertEqual(try t.run(["ssl", "generate", "soon.test", "--self-signed", "--days", "90"]).status, 0)
        let third = try t.run(["alerts", "check"])
        XCTAssertEqual(third.status, 0, third.stdout + third.stderr)
        XCTAssertEqual(receiver.received.map { $0["status"] as? String }, ["firing", "resolved"])
        let list = try t.run(["alerts", "list"])
        XCTAssertTrue(list.stdout.contains("cert-expiring  acme  soon.test  inactive"), list.stdout)
        try assertNoLeak(t, outputs: [first.stdout, second.stdout, third.stdout, list.stdout], argvLog: argvLog)
    }
}
