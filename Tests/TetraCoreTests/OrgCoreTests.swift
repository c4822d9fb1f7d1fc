import Foundation
import XCTest
@testable import TetraCore

/// Org core: org.toml decoding, validation (every problem), rendering, snapshots, diffs.
final class OrgCoreTests: XCTestCase {
    var root = ""

    override func setUpWithError() throws {
        var template = Array((NSTemporaryDirectory() + "/tetra-orgcore.XXXXXX").utf8CString)
        root = String(cString: mkdtemp(&template)!)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: root)
    }

    var paths: StatePaths { StatePaths(root: root) }

    func writeOrg(_ toml: String, files: [String: String] = [:], secrets: String? = nil) throws -> LoadedOrg {
        let dir = paths.org("acme")
        try FileManager.default.createDirectory(atPath: dir + "/files", withIntermediateDirectories: true)
        try toml.write(toFile: dir + "/org.toml", atomically: true, encoding: .utf8)
        for (path, text) in files {
            try FileManager.default.createDirectory(atPath: ((dir + "/files/" + path) as NSString).deletingLastPathComponent,
                                                    withIntermediateDirectories: true)
            try text.write(toFile: dir + "/files/" + path, atomically: true, encoding: .utf8)
        }
        if let secrets { try secrets.write(toFile: dir + "/secrets.env", atomically: true, encoding: .utf8) }
        return try OrgStore(paths: paths).load("acme")
    }

    let basic = """
    [org]
    name = "acme"

    [environments.dev]
    target = "/srv/acme/dev"
    port_range = "development"
    """

    func testDecodingTypesAndUnknownKeys() throws {
        let org = try writeOrg(basic + "\nkeep_releases = 3\nprotectd = true\n[environments.prod]\ntarget = \"ssh://d@h/x\"\nprotected = true\n")
        XCTAssertEqual(org.environmentNames, ["dev", "prod"])
        XCTAssertEqual(try org.environment("dev").keep, 3)
        XCTAssertTrue(try org.environment("prod").isProtected)
        XCTAssertEqual(org.warnings.count, 1)
        XCTAssertTrue(org.warnings[0].description.contains("protectd"), org.warnings[0].description)
        XCTAssertThrowsError(try org.environment("qa")) { XCTAssertEqual(($0 as? CoreError)?.exitCode, .notFound) }
        XCTAssertThrowsError(try writeOrg(basic + "\nkeep_releases = \"x\"\n")) { error in
            XCTAssertEqual((error as? ConfigError)?.exitCode, .invalidConfig)
            XCTAssertTrue("\(error)".contains("orgs/acme/org.toml:7:17"), "\(error)")
        }
    }

    func testValidatorReportsEveryProblem() throws {
        let org = try writeOrg("""
        [org]
        name = "other"

        [environments.a]
        target = "relative/path"
        promote_from = "b"
        port_range = "nosuch"
        keep_releases = 0

        [environments.b]
        target = "ssh://-oProxyCommand=x/srv"
        promote_from = "a"
        checks = [[]]
        """, files: ["x.tmpl": "{{ ports.api }}{{ secrets.NOPE }}"])
        try FileManager.default.createDirectory(atPath: paths.config, withIntermediateDirectories: true)
        try "[ports]\na = 4000\nb = 4000\n[port_ranges]\ndevelopment = \"3000-3999\"\n"
            .write(toFile: paths.portsFile, atomically: false, encoding: .utf8)
        let v = OrgValidator(paths: paths)
        let problems = v.problems(org, inputs: v.inputs(orgDirectory: org.directory)).map(\.description).joined(separator: "\n")
        for needle in ["org.name", "directory is 'acme'", "relative/path", "nosuch", "keep_releases", "cycle", "check 1 is empty",
                       "-oProxyCommand", "port conflict: a, b", "ports.api", "secrets.NOPE", "(env a)", "(env b)"] {
            XCTAssertTrue(problems.contains(needle), "\(needle) missing:\n\(problems)")
        }
    }

    func testRenderWritesTemplatesCopiesOthersAndSecretFilesAre0600() throws {
        let org = try writeOrg(basic + "\nvars = { domain = \"dev.example\" }\n",
                               files: ["a.conf.tmpl": "{{ domain }} {{ env.name }} {{ ports.web }}\n", "s.env.tmpl": "K={{ secrets.K }}\n",
                                       "static/robots.txt": "hi\n"],
                               secrets: "K=v4lue\n")
        let out = root + "/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let r = try OrgRenderer(catalog: TemplateCatalog(libraryTemplates: nil))
            .render(org, environment: "dev", ports: ["web": 3000], secrets: ["K": "v4lue"], into: out)
        XCTAssertEqual(try String(contentsOfFile: out + "/a.conf", encoding: .utf8), "dev.example dev 3000\n")
        XCTAssertEqual(try String(contentsOfFile: out + "/static/robots.txt", encoding: .utf8), "hi\n")
        XCTAssertEqual(r.secretFiles, ["s.env"])
        var st = stat()
        XCTAssertEqual(stat(out + "/s.env", &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o600)
        XCTAssertEqual(r.hashes, try ReleaseManifest.build(from: out).files, "the manifest comes from the render")
        // a .tmpl and a plain file with the same output
        try "x".write(toFile: org.filesDirectory + "/a.conf", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try OrgRenderer(catalog: TemplateCatalog(libraryTemplates: nil))
            .render(org, environment: "dev", ports: ["web": 3000], secrets: [:], into: nil)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("a.conf.tmpl") && text.contains("writes a.conf, as") && text.contains("files/a.conf does"), text)
        }
    }

    /// The snapshot's stat cache follows the walk with a cursor and falls back to an index
    /// when files were added or removed in between.
    func testStatCacheLookupsInOrderAndAfterAddedAndRemovedFiles() {
        let h = { (c: Character) in String(repeating: c, count: 64) }
        let text = ["a", "b/x", "b/y", "c"].enumerated().map { i, p in "\(h(Character(String(i))))\t\(i + 10)\t1\t2\t\(i + 100)\t\(p)\n" }
            .joined() + "garbage line\n"
        var cache = SnapshotStore.StatCache(Array(text.utf8))
        XCTAssertEqual(cache.count, 4, "the malformed line is skipped")
        XCTAssertEqual(cache.row(for: "a").map { cache.hash($0) }, h("0"))
        XCTAssertNil(cache.row(for: "a2"), "an added file")
        XCTAssertEqual(cache.row(for: "b/y").map { $0.size }, 12, "b/x was removed: found through the index")
        XCTAssertEqual(cache.row(for: "c").map { $0.ino }, 103, "and the cursor goes on from there")
        XCTAssertEqual(cache.row(for: "b/x").map { cache.path($0) }, "b/x", "out of order still found")
        var empty = SnapshotStore.StatCache()
        XCTAssertNil(empty.row(for: "a"))
    }

    func testSnapshotsAreContentAddressedExcludeSecretsAndRestore() throws {
        let org = try writeOrg(basic, files: ["a.txt": "one\n", "sub/b.txt": "two\n"], secrets: "K=topsecret\n")
        chmod(org.filesDirectory + "/sub/b.txt", 0o755)
        let store = SnapshotStore(paths: paths)
        let s1 = try store.take(org: "acme", directory: org.directory, reason: "test", by: "me@here", now: Date())
        let s2 = try store.take(org: "acme", directory: org.directory, reason: "again", by: "me@here", now: Date())
        XCTAssertEqual(s1.id, s2.id, "same content, same id")
        XCTAssertEqual(s1.files, 3)
        XCTAssertEqual(s2.newObjects, 0)
        XCTAssertEqual(try store.manifest(s2.id).first { $0.path == "files/a.txt" }?.hash, SHA256.hex(of: "one\n"))
        // The walk of files/ handed to the render: entries relative to files/, hashes included.
        let scanned = try XCTUnwrap(try store.take(org: "acme", directory: org.directory, reason: "scan", by: "me@here", now: Date(),
                                                   scanning: "files").scanned)
        XCTAssertEqual(scanned.first { $0.path == "a.txt" }?.hash, SHA256.hex(of: "one\n"))
        XCTAssertFalse(scanned.contains { $0.path.hasPrefix("files/") || $0.path == "org.toml" })
        XCTAssertEqual(try store.log("acme").map(\.reason), ["test", "again", "scan"])
        let restored = root + "/restored"
        try FileManager.default.createDirectory(atPath: restored, withIntermediateDirectories: true)
        try store.restore(s1.id, into: restored)
        XCTAssertEqual(try String(contentsOfFile: restored + "/files/sub/b.txt", encoding: .utf8), "two\n")
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: restored + "/files/sub/b.txt"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: restored + "/secrets.env"))
        XCTAssertEqual(OrgCoreTestsGrep.count("topsecret", under: paths.snapshots), 0)
        try "changed\n".write(toFile: org.filesDirectory + "/a.txt", atomically: true, encoding: .utf8)
        let s3 = try store.take(org: "acme", directory: org.directory, reason: "edit", by: "me@here", now: Date())
        XCTAssertNotEqual(s3.id, s1.id)
        XCTAssertEqual(s3.newObjects, 1)
        XCTAssertThrowsError(try store.restore("../../etc/passwd", into: restored))
    }

    func testFileChangesAndUnifiedDiff() {
        let c = FileChanges.between(old: ["a": "1", "b": "2", "c": "3"], new: ["a": "1", "b": "9", "d": "4"])
        XCTAssertEqual(c, FileChanges(added: ["d"], removed: ["c"], changed: ["b"]))
        let d = TextDiff.unified(old: "1\n2\n3\n4\n5\n6\n7\n8\n9\n", new: "1\n2\n3\n4\nfive\n6\n7\n8\n9\n", oldName: "a/x", newName: "b/x")
        XCTAssertEqual(d, "--- a/x\n+++ b/x\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n")
    }
}

enum OrgCoreTestsGrep {
    static func count(_ needle: String, under dir: String) -> Int {
        var n = 0
        let e = FileManager.default.enumerator(atPath: dir)
        while let rel = e?.nextObject() as? String {
            if let d = FileManager.default.contents(atPath: dir + "/" + rel), d.range(of: Data(needle.utf8)) != nil { n += 1 }
        }
        return n
    }
}
