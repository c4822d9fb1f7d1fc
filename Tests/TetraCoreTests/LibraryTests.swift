import Foundation
import XCTest
@testable import TetraCore

/// The library core: git output parsers, URL credentials, history, and the update/rollback
/// policy against real git repositories (file:// upstream).
final class LibraryTests: XCTestCase {
    // MARK: - parsers

    func testParsesPorcelainV2Status() {
        let text = [
            "# branch.oid 1111111111111111111111111111111111111111",
            "# branch.head main",
            "# branch.upstream origin/main",
            "# branch.ab +2 -3",
            "1 .M N... 100644 100644 100644 aaaa bbbb templates/service/web.toml",
            "1 A. N... 000000 100644 100644 0000 cccc has space.txt",
            "2 R. N... 100644 100644 100644 aaaa aaaa R100 new name.toml",
            "old name.toml",
            "u UU N... 100644 100644 100644 100644 a b c conflict.txt",
            "? untracked/file.txt",
            "",
        ].joined(separator: "\u{0}")
        let s = TemplateLibrary.parseStatus(text)
        XCTAssertEqual(s.oid, "1111111111111111111111111111111111111111")
        XCTAssertEqual(s.branch, "main")
        XCTAssertEqual(s.upstream, "origin/main")
        XCTAssertEqual(s.ahead, 2)
        XCTAssertEqual(s.behind, 3)
        XCTAssertEqual(s.changes, [
            LibraryFileChange(status: .modified, path: "templates/service/web.toml"),
            LibraryFileChange(status: .added, path: "has space.txt"),
            LibraryFileChange(status: .renamed, path: "old name.toml → new name.toml"),
            LibraryFileChange(status: .unmerged, path: "conflict.txt"),
            LibraryFileChange(status: .untracked, path: "untracked/file.txt"),
        ])
        XCTAssertNil(TemplateLibrary.parseStatus("# branch.oid abc\u{0}# branch.head (detached)\u{0}").branch)
    }

    func testParsesNameStatusAndCommits() {
        let ns = "M\u{0}a.toml\u{0}R087\u{0}old.toml\u{0}new.toml\u{0}A\u{0}b c.toml\u{0}D\u{0}gone\u{0}"
        XCTAssertEqual(TemplateLibrary.parseNameStatus(ns), [
            LibraryFileChange(status: .modified, path: "a.toml"),
            LibraryFileChange(status: .renamed, path: "old.toml → new.toml"),
            LibraryFileChange(status: .added, path: "b c.toml"),
            LibraryFileChange(status: .deleted, path: "gone"),
        ])
        let log = "h1\u{0}s1\u{0}Subject one\u{0}Ann\u{0}2026-11-21T10:00:00+00:00\u{0}\nh2\u{0}s2\u{0}Two\u{0}Bob\u{0}2026-11-20T10:00:00+00:00\u{0}\n"
        XCTAssertEqual(TemplateLibrary.parseCommits(log).map(\.subject), ["Subject one", "Two"])
        XCTAssertEqual(TemplateLibrary.parseCommits(log).last?.author, "Bob")
    }

    func testCredentialsAreStrippedFromURLs() {
        XCTAssertEqual(LibraryURL.stripCredentials("https://bob:s3cret@git.example.com/x.git")?.url, "https://bob@git.example.com/x.git")
        XCTAssertEqual(LibraryURL.stripCredentials("https://bob:s3cret@git.example.com/x.git")?.secret, "s3cret")
        XCTAssertEqual(LibraryURL.stripCredentials("https://ghp_token@github.com/o/r.git")?.url, "https://github.com/o/r.git")
        XCTAssertEqual(LibraryURL.stripCredentials("https://:tok@h/r")?.url, "https://h/r")
        XCTAssertNil(LibraryURL.stripCredentials("ssh://git@host/r.git"), "an ssh user name is not a secret")
        XCTAssertNil(LibraryURL.stripCredentials("git@host:r.git"))
        XCTAssertNil(LibraryURL.stripCredentials("https://host/a@b"), "an @ in the path is not userinfo")
        XCTAssertEqual(LibraryURL.stripCredentials("ssh://u:pw@h:2222/r")?.url, "ssh://u@h:2222/r")
    }

    func testHistoryEntriesNeverHoldCredentials() throws {
        let e = LibraryHistoryEntry(time: Date(timeIntervalSince1970: 1_795_000_000), action: .initialize, from: nil, to: "abc",
                                    ref: "main", url: "https://bob:s3cret@h/r.git", user: "u", host: "h")
        let data = try JSONEncoder().encode(e)
        let text = String(decoding: data, as: UTF8.self)
        XCTAssertFalse(text.contains("s3cret"), text)
        XCTAssertEqual(try JSONDecoder().decode(LibraryHistoryEntry.self, from: data).url, "https://bob:***@h/r.git")
    }

    func testRemoteErrorIsOneRedactedLine() {
        let e = LibraryRemoteError(operation: "clone", url: "https://bob:s3cret@h/r.git",
                                   detail: "fatal: unable to access 'https://bob:s3cret@h/r.git/': Could not resolve host: h\nPlease make sure you have the correct access rights\nand the repository exists.")
        XCTAssertEqual(e.exitCode, .toolFailed)
        XCTAssertEqual(e.message, "could not clone the library at https://bob:***@h/r.git: fatal: unable to access 'https://bob:***@h/r.git/': Could not resolve host: h")
    }

    func testBranchNamesAndURLsAreChecked() {
        for bad in ["-x", "a..b", "a b", "a~1", "x.lock", "/a", "a:b", "@{u}"] {
            XCTAssertThrowsError(try TemplateLibrary.checkRef(bad), bad)
        }
        for good in ["main", "release/2.1", "stable-v2"] { XCTAssertNoThrow(try TemplateLibrary.checkRef(good)) }
        XCTAssertThrowsError(try TemplateLibrary.checkURL("--upload-pack=touch /tmp/x"))
        XCTAssertThrowsError(try TemplateLibrary.checkURL(""))
        XCTAssertThrowsError(try TemplateLibrary.checkURL("https://h/r\nx"))
    }

    // MARK: - against real git

    struct Fixture {
        let root: String
        let upstream: String
        let work: String
        let library: TemplateLibrary
        let git: String

        func sh(_ args: [String], in dir: String? = nil) throws -> String {
            let r = try SystemProcessRunner(environment: ProcessInfo.processInfo.environment).run(
                ProcessRequest(git, args, environment: ["GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x",
                                                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x"],
                               workingDirectory: dir ?? work))
            guard r.status == 0 else { throw CoreError.failed("git \(args): \(r.stderrString)") }
            return r.stdoutString
        }

        /// Commits `files` in the upstream working copy and pushes.
        func push(_ files: [String: String], message: String) throws {
            for (path, text) in files {
                let full = work + "/" + path
                try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try text.write(toFile: full, atomically: true, encoding: .utf8)
            }
            _ = try sh(["add", "-A"])
            _ = try sh(["commit", "-q", "-m", message])
            _ = try sh(["push", "-q", "origin", "HEAD:main"])
        }
    }

    func makeFixture() throws -> Fixture {
        guard let git = SystemProcessRunner(environment: ProcessInfo.processInfo.environment).which("git") else {
            throw XCTSkip("git is not installed")
        }
        let root = NSTemporaryDirectory() + "tetra-lib-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root + "/state", withIntermediateDirectories: true)
        let clock = LibraryTestClock()
        let core = CoreContext(environment: ProcessInfo.processInfo.environment, workingDirectory: root,
                               stateRoot: root + "/state",
                               now: { clock.tick() },
                               runner: SystemProcessRunner(environment: ProcessInfo.processInfo.environment))
        let f = Fixture(root: root, upstream: root + "/up.git", work: root + "/work", library: TemplateLibrary(core: core), git: git)
        _ = try f.sh(["init", "-q", "--bare", "-b", "main", f.upstream], in: root)
        _ = try f.sh(["init", "-q", "-b", "main", f.work], in: root)
        _ = try f.sh(["remote", "add", "origin", f.upstream])
        try f.push(["templates/service/web.toml": "v = 1\n"], message: "one")
        addTeardownBlock { try? FileManager.default.removeItem(atPath: root) }
        return f
    }

    func testInitUpdateRollbackAndHistory() throws {
        let f = try makeFixture()
        let lib = f.library
        let initResult = try lib.initialize(url: "file://" + f.upstream, ref: nil, dryRun: false)
        XCTAssertEqual(initResult.ref, "main")
        XCTAssertEqual(initResult.templates, 1)
        let first = try XCTUnwrap(initResult.commit)

        let same = try lib.update(dryRun: false, force: false)
        XCTAssertTrue(same.upToDate)

        try f.push(["templates/service/web.toml": "v = 2\n", "templates/service/new.toml": "n\n"], message: "two")
        let dry = try lib.update(dryRun: true, force: false)
        XCTAssertEqual(dry.commits.map(\.subject), ["two"])
        XCTAssertEqual(dry.files, [LibraryFileChange(status: .added, path: "templates/service/new.toml"),
                                   LibraryFileChange(status: .modified, path: "templates/service/web.toml")])
        XCTAssertEqual(try String(contentsOfFile: lib.directory + "/templates/service/web.toml", encoding: .utf8), "v = 1\n", "dry run")

        let up = try lib.update(dryRun: false, force: false)
        XCTAssertEqual(up.from, first)
        XCTAssertEqual(try String(contentsOfFile: lib.directory + "/templates/service/web.toml", encoding: .utf8), "v = 2\n")
        let second = up.to

        let back = try lib.rollback(to: nil, dryRun: false, force: false)
        XCTAssertEqual(back.to, first)
        XCTAssertEqual(try String(contentsOfFile: lib.directory + "/templates/service/web.toml", encoding: .utf8), "v = 1\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: lib.directory + "/templates/service/new.toml"))
        XCTAssertEqual(try lib.status().behind, 1)
        // Rolling back again goes to the same place (the version before the last *update*).
        XCTAssertTrue(try lib.rollback(to: nil, dryRun: false, force: false).unchanged)
        XCTAssertEqual(try lib.rollback(to: second, dryRun: false, force: false).to, second)

        let history = try lib.history()
        XCTAssertEqual(history.map(\.action), [.initialize, .update, .rollback, .rollback])
        XCTAssertEqual(history.map(\.from), [nil, first, second, first])
        XCTAssertEqual(history.map(\.to), [first, second, first, second])
        XCTAssertEqual(history[1].commits, 1)
        XCTAssertEqual(history.map(\.url), Array(repeating: "file://" + f.upstream, count: 4))

        XCTAssertThrowsError(try lib.rollback(to: "nope", dryRun: false, force: false)) { error in
            XCTAssertEqual((error as? CoreError)?.exitCode, .notFound)
        }
        XCTAssertThrowsError(try lib.initialize(url: "file://" + f.upstream, ref: nil, dryRun: false)) { error in
            XCTAssertEqual((error as? CoreError)?.exitCode, .conflict)
        }
    }

    func testLocalChangesAreRefusedThenSavedOnABackupBranch() throws {
        let f = try makeFixture()
        let lib = f.library
        _ = try lib.initialize(url: f.upstream, ref: "main", dryRun: false)
        try f.push(["templates/service/web.toml": "v = 2\n"], message: "two")
        try "mine\n".write(toFile: lib.directory + "/templates/service/web.toml", atomically: true, encoding: .utf8)
        try "new\n".write(toFile: lib.directory + "/templates/service/local.toml", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try lib.update(dryRun: false, force: false)) { error in
            let e = error as? CoreError
            XCTAssertEqual(e?.exitCode, .conflict)
            XCTAssertEqual(e?.message, "the library has local changes (2 files: M templates/service/web.toml, ?? templates/service/local.toml); update refused")
            XCTAssertTrue(e?.hint?.contains("--force") == true)
        }
        XCTAssertEqual(try String(contentsOfFile: lib.directory + "/templates/service/web.toml", encoding: .utf8), "mine\n")

        let r = try lib.update(dryRun: false, force: true)
        let backup = try XCTUnwrap(r.backup)
        XCTAssertTrue(backup.hasPrefix("tetra-backup/20261118T"), backup)
        XCTAssertEqual(try String(contentsOfFile: lib.directory + "/templates/service/web.toml", encoding: .utf8), "v = 2\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: lib.directory + "/templates/service/local.toml"))
        XCTAssertEqual(try f.sh(["show", backup + ":templates/service/web.toml"], in: lib.directory), "mine\n")
        XCTAssertEqual(try f.sh(["show", backup + ":templates/service/local.toml"], in: lib.directory), "new\n")
        XCTAssertFalse(try lib.status().dirty)
        XCTAssertEqual(try lib.history().last?.backup, backup)
    }

    func testDivergedHistoryIsRefused() throws {
        let f = try makeFixture()
        let lib = f.library
        _ = try lib.initialize(url: f.upstream, ref: nil, dryRun: false)
        _ = try f.sh(["commit", "-q", "--allow-empty", "-m", "local"], in: lib.directory)
        try f.push(["templates/service/x.toml": "x\n"], message: "upstream")
        for force in [false, true] {
            XCTAssertThrowsError(try lib.update(dryRun: false, force: force)) { error in
                let e = error as? CoreError
                XCTAssertEqual(e?.exitCode, .conflict)
                XCTAssertTrue(e?.message.hasPrefix("the library has diverged from origin/main: 1 local commit not upstream, 1 upstream commit not here") == true, e?.message ?? "")
                XCTAssertTrue(e?.hint?.contains("reset --hard origin/main") == true)
            }
        }
        let checks = lib.checks()
        XCTAssertEqual(checks.map(\.status), [.ok, .warning])
        XCTAssertTrue(checks[1].detail.hasPrefix("diverged"), checks[1].detail)
    }

    func testDoctorChecks() throws {
        let f = try makeFixture()
        let lib = f.library
        XCTAssertEqual(lib.checks().map(\.status), [.ok], "no library: fine, it is optional")
        _ = try lib.initialize(url: f.upstream, ref: nil, dryRun: false)
        XCTAssertEqual(lib.checks().map(\.status), [.ok, .ok])
        try "x".write(toFile: lib.directory + "/untracked", atomically: true, encoding: .utf8)
        XCTAssertEqual(lib.checks().map(\.status), [.ok, .warning])
        // A corrupt object store is a problem.
        let objects = lib.directory + "/.git/objects"
        for dir in try FileManager.default.contentsOfDirectory(atPath: objects) where dir.count == 2 {
            for file in try FileManager.default.contentsOfDirectory(atPath: objects + "/" + dir) {
                chmod(objects + "/" + dir + "/" + file, 0o644)
                try Data("garbage".utf8).write(to: URL(fileURLWithPath: objects + "/" + dir + "/" + file))
            }
        }
        XCTAssertEqual(lib.checks().first?.status, .problem)
    }

    func testConfiguredURLIsUsedWhenNoneIsGiven() throws {
        let f = try makeFixture()
        XCTAssertThrowsError(try f.library.initialize(url: nil, ref: nil, dryRun: false)) { error in
            XCTAssertEqual((error as? CoreError)?.exitCode, .usage)
            XCTAssertTrue((error as? CoreError)?.hint?.contains("library_url") == true)
        }
        try FileManager.default.createDirectory(atPath: f.library.paths.config, withIntermediateDirectories: true)
        try "library_url = \"file://\(f.upstream)\"\nlibrary_ref = \"main\"\n".write(toFile: f.library.paths.globalConfig, atomically: true, encoding: .utf8)
        let r = try f.library.initialize(url: nil, ref: nil, dryRun: false)
        XCTAssertEqual(r.ref, "main")
        XCTAssertEqual(r.url, "file://" + f.upstream)
    }
}

/// A clock that moves one second per reading (distinct backup branch names).
final class LibraryTestClock: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0.0
    func tick() -> Date {
        lock.lock(); defer { lock.unlock() }
        n += 1
        return Date(timeIntervalSince1970: 1_795_000_000 + n)
    }
}
