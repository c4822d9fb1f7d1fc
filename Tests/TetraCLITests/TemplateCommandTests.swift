import Foundation
import XCTest
@testable import TetraCLI
import TetraCore

/// `tetra template list/show/render` in-process (no external programs are run).
final class TemplateCommandTests: XCTestCase {
    var cli = InProcess()
    var work = ""

    override func setUpWithError() throws {
        cli = InProcess()
        work = (cli.stateRoot as NSString).deletingLastPathComponent + "/work"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
    }

    func write(_ path: String, _ text: String) throws {
        let full = path.hasPrefix("/") ? path : work + "/" + path
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: full, atomically: true, encoding: .utf8)
    }

    func json(_ text: String) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    func testListShowsBuiltinsAndWhichWins() throws {
        try write(cli.stateRoot + "/library/templates/service/web.toml", "name = \"lib\"\n")
        try write(cli.stateRoot + "/library/templates/service/redis.conf", "{{!-- template\ndescription = \"Redis\"\n--}}\nport {{ port }}\n")
        let r = cli.run(["template", "list"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines[0].hasPrefix("NAME"))
        XCTAssertTrue(lines.contains { $0.hasPrefix("service/web") && $0.contains("library") && $0.contains("active, overrides built-in") }, r.stdout)
        XCTAssertTrue(lines.contains { $0.hasPrefix("service/web") && $0.contains("built-in") && $0.contains("overridden by library") }, r.stdout)
        XCTAssertTrue(lines.contains { $0.hasPrefix("service/redis") && $0.contains("Redis") }, r.stdout)
        XCTAssertTrue(lines.contains { $0.hasPrefix("org/default") && $0.contains("directory") }, r.stdout)

        let j = try json(cli.run(["template", "list", "--json"]).stdout)
        let records = try XCTUnwrap(j["templates"] as? [[String: Any]])
        let web = records.filter { $0["name"] as? String == "service/web" }
        XCTAssertEqual(web.map { $0["origin"] as? String }, ["library", "built-in"])
        XCTAssertEqual(web.map { $0["active"] as? Bool }, [true, false])
    }

    func testShowPrintsOriginVariablesDefaultsAndSource() throws {
        let r = cli.run(["template", "show", "service/web"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix("template:    service/web (file, built-in)\nlocation:    templates/service/web.toml\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("variables:   command, cwd, health_path, name\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("defaults:    name = \"web\"\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("==> web.toml <==\n{{!-- template\n"), r.stdout)
        let dir = cli.run(["template", "show", "org/default", "--json"])
        let j = try json(dir.stdout)
        XCTAssertEqual(j["kind"] as? String, "directory")
        XCTAssertEqual((j["defaults"] as? [String: Any])?["name"] as? String, "acme")
        XCTAssertEqual(j["verbatim"] as? [String], ["files/**"])
        let missing = cli.run(["template", "show", "service/wbe"])
        XCTAssertEqual(missing.status, 4)
        XCTAssertTrue(missing.stderr.contains("did you mean 'service/web'?"), missing.stderr)
    }

    func testRenderWithSetAndVars() throws {
        try write("vars.toml", "name = \"from-vars\"\nhealth_path = \"/ready\"\n")
        let r = cli.run(["template", "render", "service/web", "--vars", work + "/vars.toml", "--set", "name=api",
                         "--set", "command=[\"node\", \"server.js\"]"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let t = try TOMLParser.parse(r.stdout)
        XCTAssertEqual(t["name"], .string("api"), "--set wins over --vars")
        XCTAssertEqual(t["command"], .array([.string("node"), .string("server.js")]))
        XCTAssertEqual(t[path: ["health", "http"]], .string("http://127.0.0.1:{port}/ready"), "--vars wins over defaults")
        XCTAssertEqual(r.stderr, "")

        // Typed values: an integer renders as a number, a quoted one as text.
        try write("typed.tmpl", "port = {{ port }}\nname = \"{{ name }}\"\ntls = {{ tls }}\n{{#if tls}}secure{{/if}}\n")
        let typed = cli.run(["template", "render", work + "/typed.tmpl", "--set", "port=8080", "--set", "name=8080x", "--set", "tls=false"])
        XCTAssertEqual(typed.stdout, "port = 8080\nname = \"8080x\"\ntls = false\n\n")
        // A value no file uses is pointed out.
        let unused = cli.run(["template", "render", "service/web", "--set", "prot=1"])
        XCTAssertEqual(unused.status, 0)
        XCTAssertTrue(unused.stderr.contains("warning: value 'prot' not used by service/web (it uses: command, cwd, health_path, name)"), unused.stderr)
    }

    func testUndefinedVariableIsAnErrorWithItsPosition() throws {
        try write("app.conf.tmpl", "ok\nhost = {{ host }}\n{{#if tls}}x{{/if}}\n")
        let r = cli.run(["template", "render", work + "/app.conf.tmpl"])
        XCTAssertEqual(r.status, 3)
        XCTAssertEqual(r.stdout, "")
        XCTAssertEqual(r.stderr, """
            tetra: error: 2 problems:
              \(work)/app.conf.tmpl:2:8: undefined variable 'host'
              \(work)/app.conf.tmpl:3:1: undefined variable 'tls'

            """)
        let json = cli.run(["template", "render", work + "/app.conf.tmpl", "--set", "host=h", "--json"])
        XCTAssertEqual(json.status, 3)
        let err = try self.json(json.stderr)["error"] as? [String: Any]
        XCTAssertEqual((err?["problems"] as? [[String: Any]])?.first?["message"] as? String, "undefined variable 'tls'")
        // An unclosed block: the error is at the opening tag.
        try write("open.tmpl", "a\n  {{#if x}}\nb\n")
        let open = cli.run(["template", "render", work + "/open.tmpl"])
        XCTAssertEqual(open.status, 3)
        XCTAssertTrue(open.stderr.contains("open.tmpl:2:3: unclosed {{#if x}}"), open.stderr)
    }

    func testOutputDirectoryIsWrittenAtomicallyAndNeverOverwrittenWithoutForce() throws {
        let out = work + "/acme"
        let first = cli.run(["template", "render", "org/default", "--set", "name=acme", "-o", out])
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertTrue(first.stdout.hasPrefix("wrote 5 files in \(out):\n"), first.stdout)
        let orgToml = try String(contentsOfFile: out + "/org.toml", encoding: .utf8)
        XCTAssertTrue(orgToml.contains("name = \"acme\""))
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/files/nginx.conf.tmpl"), "per-env templates keep their name")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: work).filter { $0.contains("tetra-tmp") }
        XCTAssertEqual(leftovers, [])

        try "edited\n".write(toFile: out + "/org.toml", atomically: true, encoding: .utf8)
        let again = cli.run(["template", "render", "org/default", "--set", "name=acme", "-o", out])
        XCTAssertEqual(again.status, 5)
        XCTAssertTrue(again.stderr.contains("5 files already exist in \(out): files/app.env.tmpl, files/nginx.conf.tmpl, org.toml"), again.stderr)
        XCTAssertTrue(again.stderr.contains("hint: re-run with --force"), again.stderr)
        XCTAssertEqual(try String(contentsOfFile: out + "/org.toml", encoding: .utf8), "edited\n", "nothing was written")

        let dry = cli.run(["template", "render", "org/default", "--set", "name=acme", "-o", out, "--force", "--dry-run"])
        XCTAssertEqual(dry.status, 0)
        XCTAssertTrue(dry.stdout.contains("would write 5 files"), dry.stdout)
        XCTAssertEqual(try String(contentsOfFile: out + "/org.toml", encoding: .utf8), "edited\n")

        let forced = cli.run(["template", "render", "org/default", "--set", "name=acme", "-o", out, "--force"])
        XCTAssertEqual(forced.status, 0, forced.stderr)
        XCTAssertTrue(forced.stdout.contains("org.toml (replaced)"))
        XCTAssertEqual(try String(contentsOfFile: out + "/org.toml", encoding: .utf8), orgToml)

        // A single file template into an existing directory: only its own file.
        let svc = cli.run(["template", "render", "service/web", "--set", "name=api", "-o", out + "/services"])
        XCTAssertEqual(svc.status, 0, svc.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/services/api.toml"))
        XCTAssertEqual(cli.run(["template", "render", "service/web", "--set", "name=api", "-o", out + "/services"]).status, 5)
    }

    func testAFileUsingSecretsIsWrittenWithMode600() throws {
        try write("tpl/secret.env.tmpl", "K={{ secrets.K }}\n")
        try write("tpl/plain.txt", "plain\n")
        let r = cli.run(["template", "render", work + "/tpl", "--set", "secrets.K=v", "-o", work + "/out"])
        XCTAssertEqual(r.status, 0, r.stderr)
        var st = stat()
        XCTAssertEqual(stat(work + "/out/secret.env", &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o600)
        XCTAssertEqual(stat(work + "/out/plain.txt", &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o644)
    }

    func testDirectoryTemplateToStdoutHasAHeaderPerFile() throws {
        try write("d/a.txt", "A={{ a }}")
        try write("d/b/c.txt", "C\n")
        let r = cli.run(["template", "render", work + "/d", "--set", "a=1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "==> a.txt <==\nA=1\n\n==> b/c.txt <==\nC\n")
    }

    func testNamesAreCompleted() {
        let r = cli.run(["__complete", "template", "render", "serv"])
        XCTAssertEqual(r.status, 0)
        XCTAssertEqual(r.stdout, "service/postgres\nservice/web\nservice/worker\n")
        XCTAssertTrue(cli.run(["__complete", "template", "show", ""]).stdout.contains("org/default\n"))
    }

    func testEveryBuiltinRendersThroughTheCommand() throws {
        let names = try TemplateCatalog(libraryTemplates: nil).entries().map(\.name)
        for name in names {
            let r = cli.run(["template", "render", name])
            XCTAssertEqual(r.status, 0, "\(name): \(r.stderr)")
            XCTAssertFalse(r.stdout.isEmpty, name)
        }
    }

    func testBadInput() throws {
        XCTAssertEqual(cli.run(["template", "render", "service/web", "--set", "noequals"]).status, 2)
        XCTAssertEqual(cli.run(["template", "render", "service/web", "--set", "a..b=1"]).status, 2)
        try write("bad.toml", "a = = 1\n")
        let bad = cli.run(["template", "render", "service/web", "--vars", work + "/bad.toml"])
        XCTAssertEqual(bad.status, 3)
        XCTAssertTrue(bad.stderr.contains("bad.toml:1:"), bad.stderr)
        try write("afile", "x")
        XCTAssertEqual(cli.run(["template", "render", "service/web", "-o", work + "/afile"]).status, 2)
        XCTAssertEqual(cli.run(["template", "render", "./does/not/exist"]).status, 4)
    }
}
