import Foundation
import XCTest
@testable import TetraCore

/// Naming, library override, manifests, directory rendering, values and partials.
final class TemplateCatalogTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "tmpl-catalog-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: dir)
    }

    func write(_ path: String, _ text: String) throws {
        let full = dir + "/" + path
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: full, atomically: true, encoding: .utf8)
    }

    let builtins: [(path: String, contents: String)] = [
        ("service/web.toml", "name = \"{{ name }}\"\n"),
        ("service/db.toml", "db = 1\n"),
        ("org/small/org.toml", "[org]\nname = \"{{ name }}\"\n"),
        ("org/small/files/a.conf.tmpl", "a={{ env.name }}\n"),
        ("README.md", "not a template\n"),
    ]

    func testNamesComeFromKindAndFileOrDirectory() {
        let catalog = TemplateCatalog(libraryTemplates: nil, builtinFiles: builtins)
        let entries = catalog.builtinEntries()
        XCTAssertEqual(entries.map(\.name), ["org/small", "service/db", "service/web"])
        XCTAssertEqual(entries[0].kind, .directory)
        XCTAssertEqual(entries[0].files, ["files/a.conf.tmpl", "org.toml"])
        XCTAssertEqual(entries[0].location, "templates/org/small")
        XCTAssertEqual(entries[2].kind, .file)
        XCTAssertEqual(entries[2].location, "templates/service/web.toml")
    }

    func testLibraryOverridesBuiltinOfTheSameName() throws {
        try write("templates/service/web.toml", "library = true\n")
        try write("templates/service/cache.conf", "cache\n")
        try write("templates/.hidden/x.toml", "hidden\n")
        try write("templates/service/.secret.toml", "hidden\n")
        try write("templates/top-level.toml", "ignored: no kind folder\n")
        try FileManager.default.createSymbolicLink(atPath: dir + "/templates/service/link.toml", withDestinationPath: "/etc/passwd")
        let catalog = TemplateCatalog(libraryTemplates: dir + "/templates", builtinFiles: builtins)
        let entries = try catalog.entries()
        XCTAssertEqual(entries.map { "\($0.name) \($0.origin.rawValue) \($0.active)" }, [
            "org/small built-in true",
            "service/cache library true",
            "service/db built-in true",
            "service/web library true",
            "service/web built-in false",
        ])
        let web = try XCTUnwrap(try catalog.entry(named: "service/web"))
        XCTAssertEqual(web.origin, .library)
        XCTAssertEqual(try catalog.load(web).files[0].contents, "library = true\n")
        XCTAssertEqual(catalog.activeNames(), ["org/small", "service/cache", "service/db", "service/web"])
    }

    func testUnknownNameIsNotFoundWithASuggestion() {
        let catalog = TemplateCatalog(libraryTemplates: nil, builtinFiles: builtins)
        XCTAssertThrowsError(try catalog.require("service/wbe")) { error in
            let e = error as? CoreError
            XCTAssertEqual(e?.exitCode, .notFound)
            XCTAssertEqual(e?.message, "template 'service/wbe' not found")
            XCTAssertTrue(e?.hint?.contains("did you mean 'service/web'?") == true, "\(String(describing: e?.hint))")
        }
        XCTAssertThrowsError(try catalog.require("web")) { error in
            XCTAssertTrue((error as? CoreError)?.hint?.contains("service/web") == true)
        }
        XCTAssertNil(try catalog.entry(named: "../etc/passwd"))
        XCTAssertNil(try catalog.entry(named: "service/../../x"))
    }

    func testFileTemplateHeaderManifestGivesDescriptionDefaultsAndOutputName() throws {
        let source = """
        {{!-- template
        description = "A thing"
        output = "{{ name }}-{{ env }}.conf"
        [defaults]
        name = "thing"
        env = "dev"
        nested = { a = 1, b = 2 }
        --}}
        name={{ name }} a={{ nested.a }} b={{ nested.b }}

        """
        let catalog = TemplateCatalog(libraryTemplates: nil, builtinFiles: [("kind/thing.conf", source)])
        let t = try catalog.load(try catalog.require("kind/thing"))
        XCTAssertEqual(t.manifest.description, "A thing")
        XCTAssertEqual(t.variables, ["env", "name", "nested"])
        let out = try t.render(TOMLTable([("env", .string("prod")), ("nested", .table(TOMLTable([("b", .integer(9))])))]))
        XCTAssertEqual(out, [LoadedTemplate.Output(path: "thing-prod.conf", contents: "name=thing a=1 b=9\n", mode: 0o644, rendered: true)],
                       "the header is dropped; tables merge key by key")
        let tmplCatalog = TemplateCatalog(libraryTemplates: nil, builtinFiles: [("k/n.conf.tmpl", "x\n")])
        let plain = try tmplCatalog.load(try XCTUnwrap(tmplCatalog.entry(named: "k/n.conf")))
        XCTAssertEqual(try plain.render(TOMLTable()).first?.path, "n.conf", "a .tmpl suffix is dropped from the output name")
    }

    func testManifestProblemsAreReportedTogether() {
        let bad = "{{!-- template\ndescription = 1\nverbatim = [\"x\"]\nfoo = true\n--}}\nx\n"
        let catalog = TemplateCatalog(libraryTemplates: nil, builtinFiles: [("k/bad.txt", bad)])
        XCTAssertThrowsError(try catalog.load(try catalog.require("k/bad"))) { error in
            let e = error as? ConfigError
            XCTAssertEqual(e?.problems.map(\.description), [
                "templates/k/bad.txt: description: must be a string, not integer",
                "templates/k/bad.txt: verbatim: applies to directory templates only",
                "templates/k/bad.txt: foo: unknown key (known: defaults, description, output, verbatim)",
            ])
        }
        let syntax = TemplateCatalog(libraryTemplates: nil, builtinFiles: [("k/s.txt", "{{!-- template\na = = 1\n--}}\n")])
        XCTAssertThrowsError(try syntax.load(try syntax.require("k/s"))) { error in
            XCTAssertTrue((error as? ConfigError)?.message.hasPrefix("templates/k/s.txt:2:") == true, "\(error)")
        }
        let unclosed = TemplateCatalog(libraryTemplates: nil, builtinFiles: [("k/u.txt", "{{!-- template\na = 1\n")])
        XCTAssertThrowsError(try unclosed.load(try unclosed.require("k/u"))) { error in
            XCTAssertEqual((error as? ConfigError)?.message, "templates/k/u.txt:1:1: the template header is never closed (a line '--}}')")
        }
    }

    func testDirectoryTemplateRendersCopiesVerbatimAndDropsTmpl() throws {
        let files: [(path: String, contents: String)] = [
            ("org/x/template.toml", "description = \"X\"\nverbatim = [\"files/**\", \"*.raw\"]\n[defaults]\nname = \"x\"\n"),
            ("org/x/org.toml", "name = \"{{ name }}\"\n"),
            ("org/x/readme.md.tmpl", "# {{ name }}\n"),
            ("org/x/keep.raw", "{{ not rendered }}\n"),
            ("org/x/files/app.env.tmpl", "A={{ per_env }}\n"),
            ("org/x/files/deep/b.tmpl", "{{ also_kept }}\n"),
        ]
        let catalog = TemplateCatalog(libraryTemplates: nil, builtinFiles: files)
        let t = try catalog.load(try catalog.require("org/x"))
        XCTAssertEqual(t.files.map(\.path), ["files/app.env.tmpl", "files/deep/b.tmpl", "keep.raw", "org.toml", "readme.md.tmpl"])
        XCTAssertEqual(t.files.filter(\.verbatim).map(\.path), ["files/app.env.tmpl", "files/deep/b.tmpl", "keep.raw"])
        let out = try t.render(TOMLTable([("name", .string("acme"))]))
        XCTAssertEqual(out.map(\.path), ["files/app.env.tmpl", "files/deep/b.tmpl", "keep.raw", "org.toml", "readme.md"])
        XCTAssertEqual(out.map(\.contents), ["A={{ per_env }}\n", "{{ also_kept }}\n", "{{ not rendered }}\n", "name = \"acme\"\n", "# acme\n"])
        XCTAssertEqual(out.map(\.rendered), [false, false, false, true, true])
    }

    func testEveryUndefinedVariableOfEveryFileIsReported() {
        let files: [(path: String, contents: String)] = [
            ("k/d/a.txt", "{{ one }}\n{{ two }}\n"),
            ("k/d/b.txt", "ok\n{{#if three}}x{{/if}}\n"),
        ]
        let catalog = TemplateCatalog(libraryTemplates: nil, builtinFiles: files)
        XCTAssertThrowsError(try catalog.load(try catalog.require("k/d")).render(TOMLTable())) { error in
            XCTAssertEqual((error as? ConfigError)?.problems.map(\.description), [
                "templates/k/d/a.txt:1:1: undefined variable 'one'",
                "templates/k/d/a.txt:2:1: undefined variable 'two'",
                "templates/k/d/b.txt:2:1: undefined variable 'three'",
            ])
            XCTAssertEqual((error as? ConfigError)?.exitCode, .invalidConfig)
        }
    }

    func testOutputNameMustStayInsideTheDirectory() {
        for name in ["../escape", "/abs", "a/../../b", ".hidden", ""] {
            let src = "{{!-- template\noutput = \"{{ n }}\"\n--}}\nx\n"
            let catalog = TemplateCatalog(libraryTemplates: nil, builtinFiles: [("k/t.txt", src)])
            XCTAssertThrowsError(try catalog.load(try catalog.require("k/t")).render(TOMLTable([("n", .string(name))])), name) { error in
                XCTAssertTrue((error as? ConfigError)?.message.contains("not a relative path inside the output directory") == true, "\(error)")
            }
        }
    }

    func testAFileUsingSecretsGetsMode600() throws {
        let catalog = TemplateCatalog(libraryTemplates: nil, builtinFiles: [("k/s/a.env", "K={{ secrets.K }}\n"), ("k/s/b.txt", "plain\n")])
        let out = try catalog.load(try catalog.require("k/s")).render(TOMLTable([("secrets", .table(TOMLTable([("K", .string("v"))])))]))
        XCTAssertEqual(out.map(\.mode), [0o600, 0o644])
    }

    func testPathTemplatesUseTheGivenPathInMessages() throws {
        try write("mine/one.conf", "x={{ missing }}\n")
        let t = try TemplateCatalog.load(path: dir + "/mine/one.conf", displayName: "mine/one.conf")
        XCTAssertEqual(t.entry.origin, .path)
        XCTAssertThrowsError(try t.render(TOMLTable())) { error in
            XCTAssertEqual((error as? ConfigError)?.message, "mine/one.conf:1:3: undefined variable 'missing'")
        }
        try write("mine/tree/template.toml", "[defaults]\nv = 1\n")
        try write("mine/tree/sub/f.txt", "v={{ v }}\n")
        let tree = try TemplateCatalog.load(path: dir + "/mine/tree", displayName: "mine/tree")
        XCTAssertEqual(try tree.render(TOMLTable()).map(\.path), ["sub/f.txt"])
    }

    func testPartialsComeFromDirectoriesThenTheCatalog() throws {
        try write("partials/local.tmpl", "local {{ v }}")
        let catalog = TemplateCatalog(libraryTemplates: nil, builtinFiles: [
            ("partial/shared.tmpl", "shared {{ v }}"), ("snippet/direct.txt", "direct"),
        ])
        let provider = CatalogPartials(catalog: catalog, directories: [dir + "/partials"])
        let t = try Template(source: "{{> local}} / {{> shared}} / {{> snippet/direct}}", name: "t")
        XCTAssertEqual(try t.render(TOMLTable([("v", .integer(1))]), partials: provider), "local 1 / shared 1 / direct")
        XCTAssertThrowsError(try Template(source: "{{> locl}}", name: "t").render(TOMLTable(), partials: provider)) { error in
            XCTAssertTrue("\(error)".contains("undefined partial 'locl'"), "\(error)")
            XCTAssertTrue("\(error)".contains("local"), "suggests the close name: \(error)")
        }
        XCTAssertNil(try provider.partial(named: "../partials/local"))
    }

    func testSetAssignmentsAreTOMLValuesWhenTheyParse() throws {
        func value(_ s: String) throws -> TOMLValue { try TemplateInput.assignment(s).value }
        XCTAssertEqual(try value("port=8080"), .integer(8080))
        XCTAssertEqual(try value("tls=true"), .boolean(true))
        XCTAssertEqual(try value("ratio=0.5"), .float(0.5))
        XCTAssertEqual(try value("name=api"), .string("api"))
        XCTAssertEqual(try value("name=\"8080\""), .string("8080"))
        XCTAssertEqual(try value("list=[1, 2]"), .array([.integer(1), .integer(2)]))
        XCTAssertEqual(try value("t={ a = 1 }"), .table(TOMLTable([("a", .integer(1))])))
        XCTAssertEqual(try value("empty="), .string(""))
        XCTAssertEqual(try value("text=a b = c"), .string("a b = c"))
        XCTAssertEqual(try value("url=http://x/?a=b"), .string("http://x/?a=b"))
        XCTAssertEqual(try TemplateInput.assignment("db.port=5432").path, ["db", "port"])
        XCTAssertEqual(try TemplateInput.assignment("a.\"b.c\"=1").path, ["a", "b.c"])
        XCTAssertThrowsError(try TemplateInput.assignment("=1"))
        XCTAssertThrowsError(try TemplateInput.assignment("a..b=1"))

        var t = TOMLTable([("db", .table(TOMLTable([("host", .string("h"))])))])
        TemplateInput.set(.integer(1), at: ["db", "port"], in: &t)
        TemplateInput.set(.string("x"), at: ["name"], in: &t)
        XCTAssertEqual(t, TOMLTable([("db", .table(TOMLTable([("host", .string("h")), ("port", .integer(1))]))), ("name", .string("x"))]))
    }

    func testGlob() {
        XCTAssertTrue(Glob.matches("files/**", "files/a"))
        XCTAssertTrue(Glob.matches("files/**", "files/a/b/c.tmpl"))
        XCTAssertFalse(Glob.matches("files/**", "other/a"))
        XCTAssertTrue(Glob.matches("**/*.tmpl", "a.tmpl"))
        XCTAssertTrue(Glob.matches("**/*.tmpl", "x/y/a.tmpl"))
        XCTAssertFalse(Glob.matches("*.tmpl", "x/a.tmpl"))
        XCTAssertTrue(Glob.matches("a?c", "abc"))
        XCTAssertFalse(Glob.matches("a?c", "a/c"))
        XCTAssertTrue(Glob.matches("files/**/b.txt", "files/b.txt"))
        XCTAssertTrue(Glob.matches("files/**/b.txt", "files/x/y/b.txt"))
    }

    func testOrgRenderContextFollowsTheSpec() throws {
        let org = try TOMLParser.parse("""
            [org]
            name = "acme"
            [vars]
            replicas = 1
            domain = "example.com"
            db = { host = "a", port = 1 }
            [environments.prod]
            target = "ssh://deploy@prod/srv"
            protected = true
            vars = { replicas = 3, db = { host = "b" } }
            """)
        let c = try OrgRenderContext.build(org: org, environment: "prod", ports: ["api": 4000], secrets: ["K": "v"])
        XCTAssertEqual(c["replicas"], .integer(3))
        XCTAssertEqual(c["domain"], .string("example.com"))
        XCTAssertEqual(c["db"], .table(TOMLTable([("host", .string("b"))])), "an environment's var replaces the whole value")
        XCTAssertEqual(c[path: ["org", "name"]], .string("acme"))
        XCTAssertEqual(c[path: ["env", "name"]], .string("prod"))
        XCTAssertEqual(c[path: ["env", "target"]], .string("ssh://deploy@prod/srv"))
        XCTAssertEqual(c[path: ["env", "protected"]], .boolean(true))
        XCTAssertEqual(c[path: ["ports", "api"]], .integer(4000))
        XCTAssertEqual(c[path: ["secrets", "K"]], .string("v"))
        XCTAssertThrowsError(try OrgRenderContext.build(org: org, environment: "qa", ports: [:], secrets: [:])) { error in
            XCTAssertEqual((error as? ConfigError)?.message, "environments: no environment 'qa' (known: prod)")
        }
        let reserved = try TOMLParser.parse("[org]\nname = \"a\"\n[vars]\nenv = 1\nports = 2\n[environments.dev]\n")
        XCTAssertThrowsError(try OrgRenderContext.build(org: reserved, environment: "dev", ports: [:], secrets: [:])) { error in
            XCTAssertEqual((error as? ConfigError)?.problems.count, 2)
        }
    }
}
