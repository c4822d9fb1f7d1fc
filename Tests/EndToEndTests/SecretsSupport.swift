import Foundation
import XCTest

/// A state root with org "acme" whose secrets are encrypted with real age to two recipients
/// (keys made by real age-keygen), two local environments (dev, prod), a template that reads
/// `{{ secrets.DB_PASS }}`, and the leak scan every secrets scenario ends with: the value
/// appears nowhere but where it must.
final class SecretsFixture {
    let t: Tetra
    let work: String
    let age: String
    let keys: [String]
    let recipients: [String]
    /// Every stdout and stderr of tetra seen by `run` (scanned for values).
    var outputs: [String] = []
    var root: String { t.stateRoot }
    var orgDir: String { root + "/orgs/acme" }

    init() throws {
        age = try requireTool("age")
        let keygen = try requireTool("age-keygen")
        work = Tetra.makeTempDir("tetra-secrets")
        var tetra = Tetra()
        tetra.environment["HOME"] = work + "/home"
        tetra.environment["XDG_CONFIG_HOME"] = work + "/home/.config"
        tetra.environment["TETRA_AGE_IDENTITY"] = work + "/k1.txt"
        t = tetra
        var made: [String] = [], pubs: [String] = []
        for i in 1...3 {
            let path = work + "/k\(i).txt"
            XCTAssertEqual(try Tetra.exec(keygen, ["-o", path]).status, 0)
            made.append(path)
            pubs.append(try Tetra.exec(keygen, ["-y", path]).stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        keys = made
        recipients = pubs
        XCTAssertEqual(try t.run(["init"]).status, 0)
        try FileManager.default.createDirectory(atPath: orgDir + "/files", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: orgDir + "/services", withIntermediateDirectories: true)
        try orgToml().write(toFile: orgDir + "/org.toml", atomically: true, encoding: .utf8)
        try "DB={{ secrets.DB_PASS }}\n".write(toFile: orgDir + "/files/app.env.tmpl", atomically: true, encoding: .utf8)
        try "no secret here\n".write(toFile: orgDir + "/files/plain.txt", atomically: true, encoding: .utf8)
    }

    func orgToml(recipients list: [String]? = nil) -> String {
        let r = (list ?? Array(recipients.prefix(2))).map { "\"\($0)\"" }.joined(separator: ", ")
        return """
        [org]
        name = "acme"

        [secrets]
        recipients = [\(r)]

        [environments.dev]
        target = "\(root)/targets/dev"

        [environments.prod]
        target = "\(root)/targets/prod"

        """
    }

    deinit {
        _ = try? t.run(["svc", "stop", "--all", "--org", "acme"])
        try? FileManager.default.removeItem(atPath: work)
        try? FileManager.default.removeItem(atPath: root)
    }

    /// Runs tetra (output recorded for the leak scan unless `revealing`).
    @discardableResult
    func run(_ args: [String], stdin: String? = nil, env: [String: String] = [:], revealing: Bool = false,
             executable: String? = nil) throws -> Tetra.Result {
        let r = try t.run(args, stdin: stdin, env: env, executable: executable)
        if !revealing { outputs += [r.stdout, r.stderr] }
        return r
    }

    @discardableResult
    func ok(_ args: [String], stdin: String? = nil, env: [String: String] = [:], file: StaticString = #filePath, line: UInt = #line) throws -> Tetra.Result {
        let r = try run(args + ["--org", "acme"], stdin: stdin, env: env)
        XCTAssertEqual(r.status, 0, "tetra \(args.joined(separator: " ")): \(r.stderr)", file: file, line: line)
        return r
    }

    /// `age -d -i KEY FILE`.
    func decrypt(_ file: String, key: Int) throws -> Tetra.Result {
        try Tetra.exec(age, ["-d", "-i", keys[key], file])
    }

    func bytes(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

    func mode(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }

    /// The value appears nowhere: not in any file under the state root or the work directory
    /// (but the `allowed` files, which must be 0600), not in tetra's output, audit or history,
    /// not in any process's argv, not in the environment of `processes` (pids that did not
    /// ask for it).
    func assertNoLeak(_ value: String, allowed: Set<String> = [], processes: [Int32] = [], file: StaticString = #filePath, line: UInt = #line) {
        for base in [root, work] {
            let files = FileManager.default.enumerator(atPath: base)
            while let rel = files?.nextObject() as? String {
                let path = base + "/" + rel
                var st = stat()
                guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, let data = bytes(path) else { continue }
                guard data.range(of: Data(value.utf8)) != nil else { continue }
                if allowed.contains(path) {
                    XCTAssertEqual(Int(st.st_mode & 0o777), 0o600, "\(path) holds the value and must be 0600", file: file, line: line)
                } else {
                    XCTFail("the value leaked into \(path)", file: file, line: line)
                }
            }
        }
        for (i, text) in outputs.enumerated() where text.contains(value) {
            XCTFail("the value leaked into output #\(i): \(text.prefix(200))", file: file, line: line)
        }
        let audit = (try? t.run(["audit", "--json"]).stdout) ?? ""
        XCTAssertFalse(audit.contains(value), "in the audit log", file: file, line: line)
        for pid in Proc.all() where Proc.cmdline(pid).contains(value) {
            XCTFail("the value is in the argv of pid \(pid): \(Proc.cmdline(pid).prefix(120))", file: file, line: line)
        }
        for pid in processes {
            let environ = bytes("/proc/\(pid)/environ") ?? Data()
            XCTAssertNil(environ.range(of: Data(value.utf8)), "the value is in the environment of pid \(pid)", file: file, line: line)
        }
    }
}
