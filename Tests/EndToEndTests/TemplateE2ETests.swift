import Foundation
import TetraCore
import XCTest

/// Templates through the built binary.
final class TemplateE2ETests: XCTestCase {
    func json(_ text: String) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], text)
    }

    /// The built-in templates are compiled in: a copy of the binary alone in an empty
    /// directory, run from yet another directory, lists and renders them.
    func testACopiedBinaryHasTheBuiltinTemplates() throws {
        let binDir = Tetra.makeTempDir("tetra-copy")
        let cwd = Tetra.makeTempDir("tetra-cwd")
        defer {
            try? FileManager.default.removeItem(atPath: binDir)
            try? FileManager.default.removeItem(atPath: cwd)
        }
        let copy = binDir + "/tetra"
        try FileManager.default.copyItem(atPath: Tetra.binary, toPath: copy)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: binDir), ["tetra"], "nothing beside the binary")
        let t = Tetra()
        defer { try? FileManager.default.removeItem(atPath: t.stateRoot) }

        let list = try t.run(["template", "list"], cwd: cwd, executable: copy)
        XCTAssertEqual(list.status, 0, list.stderr)
        for name in ["org/default", "service/web", "service/worker", "service/postgres"] {
            XCTAssertTrue(list.stdout.contains(name + " "), "\(name) missing:\n\(list.stdout)")
        }
        let web = try t.run(["template", "render", "service/web", "--set", "name=api"], cwd: cwd, executable: copy)
        XCTAssertEqual(web.status, 0, web.stderr)
        XCTAssertTrue(web.stdout.contains("name = \"api\"\n"), web.stdout)
        XCTAssertTrue(web.stdout.contains("http = \"http://127.0.0.1:{port}/health\""), web.stdout)

        let org = try t.run(["template", "render", "org/default", "--set", "name=shop", "-o", "shop"], cwd: cwd, executable: copy)
        XCTAssertEqual(org.status, 0, org.stderr)
        for file in ["org.toml", "files/app.env.tmpl", "files/nginx.conf.tmpl", "services/web.toml", "services/worker.toml"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: cwd + "/shop/" + file), file)
        }
        XCTAssertEqual(try t.run(["config", "check", cwd + "/shop/org.toml"], executable: copy).status, 0)
    }

    /// Every built-in renders through the binary (defaults alone), every TOML output passes
    /// `tetra config check`.
    func testEveryBuiltinTemplateRendersThroughTheBinary() throws {
        let t = Tetra()
        let out = Tetra.makeTempDir("tetra-render")
        defer {
            try? FileManager.default.removeItem(atPath: t.stateRoot)
            try? FileManager.default.removeItem(atPath: out)
        }
        let list = try json(try t.run(["template", "list", "--json"]).stdout)["templates"] as? [[String: Any]] ?? []
        XCTAssertGreaterThanOrEqual(list.count, 5)
        for record in list {
            let name = try XCTUnwrap(record["name"] as? String)
            let dir = out + "/" + name.replacingOccurrences(of: "/", with: "-")
            let r = try t.run(["template", "render", name, "-o", dir, "--json"])
            XCTAssertEqual(r.status, 0, "\(name): \(r.stderr)")
            let files = try json(r.stdout)["files"] as? [[String: Any]] ?? []
            XCTAssertFalse(files.isEmpty, name)
            for f in files {
                let path = try XCTUnwrap(f["path"] as? String)
                if path.hasSuffix(".toml") {
                    let check = try t.run(["config", "check", dir + "/" + path])
                    XCTAssertEqual(check.status, 0, "\(name) \(path): \(check.stderr)")
                }
            }
        }
    }

    /// Every example template renders through the binary for every environment, with the
    /// SPEC §2 context written to a --vars file and the example's partials.
    func testEveryExampleTemplateRendersThroughTheBinary() throws {
        let t = Tetra()
        let work = Tetra.makeTempDir("tetra-examples")
        defer {
            try? FileManager.default.removeItem(atPath: t.stateRoot)
            try? FileManager.default.removeItem(atPath: work)
        }
        let root = Tetra.packageRoot + "/examples/acme"
        let org = try TOMLParser.parse(try String(contentsOfFile: root + "/org.toml", encoding: .utf8))
        let templates = try FileManager.default.subpathsOfDirectory(atPath: root + "/files").filter { $0.hasSuffix(".tmpl") }.sorted()
        XCTAssertEqual(templates, ["app.env.tmpl", "nginx.conf.tmpl", "worker/queues.toml.tmpl"])
        for env in ["dev", "staging", "prod"] {
            let context = try OrgRenderContext.build(org: org, environment: env, ports: ["api": 3100, "db": 3101],
                                                     secrets: ["DATABASE_URL": "postgres://x", "SESSION_SECRET": "s"])
            let vars = work + "/\(env).toml"
            try TOMLSerializer.serialize(context).write(toFile: vars, atomically: true, encoding: .utf8)
            for tmpl in templates {
                let r = try t.run(["template", "render", root + "/files/" + tmpl, "--vars", vars, "--partials", root + "/partials"])
                XCTAssertEqual(r.status, 0, "\(tmpl) for \(env): \(r.stderr)")
                XCTAssertTrue(r.stdout.contains("acme / \(env)"), "\(tmpl) for \(env)")
                XCTAssertFalse(r.stdout.contains("{{"), "\(tmpl) for \(env)")
            }
            // With -o: app.env reads secrets, so it is written with mode 0600.
            let o = try t.run(["template", "render", root + "/files/app.env.tmpl", "--vars", vars, "-o", work + "/out-\(env)"])
            XCTAssertEqual(o.status, 0, o.stderr)
            var st = stat()
            XCTAssertEqual(stat(work + "/out-\(env)/app.env", &st), 0)
            XCTAssertEqual(st.st_mode & 0o777, 0o600)
        }
    }

    func testUndefinedVariableThroughTheBinary() throws {
        let t = Tetra()
        let work = Tetra.makeTempDir("tetra-undef")
        defer {
            try? FileManager.default.removeItem(atPath: t.stateRoot)
            try? FileManager.default.removeItem(atPath: work)
        }
        try "server {\n    listen {{ port }};\n    {{#each upstreams}}x{{/each}}\n}\n".write(toFile: work + "/s.conf.tmpl", atomically: true, encoding: .utf8)
        let r = try t.run(["template", "render", "s.conf.tmpl", "--set", "prot=80"], cwd: work)
        XCTAssertEqual(r.status, 3)
        XCTAssertEqual(r.stdout, "")
        XCTAssertTrue(r.stderr.contains("s.conf.tmpl:2:12: undefined variable 'port'; did you mean 'prot'?"), r.stderr)
        XCTAssertTrue(r.stderr.contains("s.conf.tmpl:3:5: undefined variable 'upstreams'"), r.stderr)
    }
}
