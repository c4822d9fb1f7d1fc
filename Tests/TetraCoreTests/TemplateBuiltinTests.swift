import Foundation
import XCTest
@testable import TetraCore

/// The built-in templates: compiled in from templates/, complete, and all renderable.
final class TemplateBuiltinTests: XCTestCase {
    static var packageRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }

    static func run(_ program: String, _ args: [String], cwd: String? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: program)
        p.arguments = args
        if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let box = TemplateTestDataBox()
        let done = DispatchSemaphore(value: 0)
        let errHandle = err.fileHandleForReading
        Thread.detachNewThread { box.data = errHandle.readDataToEndOfFile(); done.signal() }
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        done.wait()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: box.data, as: UTF8.self))
    }

    /// Regenerating Sources/TetraCore/Generated/BuiltinTemplates.swift gives the file as it is:
    /// whoever changes templates/ must run scripts/embed-templates.sh.
    func testGeneratedFileIsUpToDate() throws {
        let root = Self.packageRoot
        let r = try Self.run("/bin/bash", [root + "/scripts/embed-templates.sh", "--stdout"], cwd: root)
        XCTAssertEqual(r.status, 0, r.stderr)
        let current = try String(contentsOfFile: root + "/Sources/TetraCore/Generated/BuiltinTemplates.swift", encoding: .utf8)
        XCTAssertTrue(r.stdout == current,
                      "Sources/TetraCore/Generated/BuiltinTemplates.swift is stale: run scripts/embed-templates.sh")
    }

    /// The table compiled into this build holds exactly the files under templates/, byte for byte.
    func testCompiledTableEqualsTemplatesFolder() throws {
        let dir = Self.packageRoot + "/templates"
        let onDisk = TemplateCatalog.regularFiles(under: dir, maxDepth: nil)
        XCTAssertEqual(BuiltinTemplates.files.map(\.path), onDisk)
        for (path, contents) in BuiltinTemplates.files {
            XCTAssertEqual(contents, try String(contentsOfFile: dir + "/" + path, encoding: .utf8), path)
        }
    }

    /// A file whose contents would end a plain raw string (`"""#`, `\#`) survives the trip.
    func testGeneratorHandlesRawStringDelimitersInContents() throws {
        let root = Self.packageRoot
        let work = NSTemporaryDirectory() + "embed-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: work + "/scripts", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: work + "/templates/x", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        try FileManager.default.copyItem(atPath: root + "/scripts/embed-templates.sh", toPath: work + "/scripts/embed-templates.sh")
        let tricky = "a \"\"\"# b \\## c \"\"\"### d\nno newline at the end \\(x) \\#(y)"
        try tricky.write(toFile: work + "/templates/x/tricky.txt", atomically: true, encoding: .utf8)
        let r = try Self.run("/bin/bash", [work + "/scripts/embed-templates.sh", "--stdout"], cwd: work)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("(\"x/tricky.txt\", ####\"\"\"\n" + tricky + "\n\"\"\"####),"), r.stdout)
        // A bad path is refused.
        try "x".write(toFile: work + "/templates/x/bad name.txt", atomically: true, encoding: .utf8)
        let bad = try Self.run("/bin/bash", [work + "/scripts/embed-templates.sh", "--stdout"], cwd: work)
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("bad name.txt"), bad.stderr)
    }

    func testTheRequiredBuiltinsExist() throws {
        let catalog = TemplateCatalog(libraryTemplates: nil)
        let org = try XCTUnwrap(try catalog.entry(named: "org/default"))
        XCTAssertEqual(org.kind, .directory)
        XCTAssertEqual(org.origin, .builtin)
        for file in ["org.toml", "files/app.env.tmpl", "files/nginx.conf.tmpl", "services/web.toml", "services/worker.toml"] {
            XCTAssertTrue(org.files.contains(file), file)
        }
        for name in ["service/web", "service/worker", "service/postgres"] {
            let e = try XCTUnwrap(try catalog.entry(named: name), name)
            XCTAssertEqual(e.kind, .file)
        }
    }

    /// Every built-in renders with its defaults alone; TOML outputs parse.
    func testEveryBuiltinRendersWithItsDefaults() throws {
        let catalog = TemplateCatalog(libraryTemplates: nil)
        let entries = catalog.builtinEntries()
        XCTAssertGreaterThanOrEqual(entries.count, 4)
        for entry in entries {
            let t = try catalog.load(entry)
            let outputs = try t.render(TOMLTable(), partials: CatalogPartials(catalog: catalog))
            XCTAssertFalse(outputs.isEmpty, entry.name)
            for o in outputs where o.rendered && o.path.hasSuffix(".toml") {
                XCTAssertNoThrow(try TOMLParser.parse(o.contents, file: "\(entry.name):\(o.path)"), "\(entry.name): \(o.path)\n\(o.contents)")
            }
            for o in outputs where o.rendered {
                XCTAssertFalse(o.contents.contains("{{"), "\(entry.name): \(o.path) still has a tag")
            }
        }
    }

    /// The service templates follow the svc schema: web has an HTTP health check, postgres
    /// runs in docker; values given with --set reach the output.
    func testServiceTemplatesFollowTheServiceSchema() throws {
        let catalog = TemplateCatalog(libraryTemplates: nil)
        func render(_ name: String, _ values: TOMLTable) throws -> (String, TOMLTable) {
            let out = try catalog.load(try catalog.require(name)).render(values)
            XCTAssertEqual(out.count, 1)
            return (out[0].path, try TOMLParser.parse(out[0].contents))
        }
        let (webPath, web) = try render("service/web", TOMLTable([("name", .string("api")),
                                                                  ("command", .array([.string("node"), .string("server.js")]))]))
        XCTAssertEqual(webPath, "api.toml")
        XCTAssertEqual(web["name"], .string("api"))
        XCTAssertEqual(web["port"], .string("api"))
        XCTAssertEqual(web["command"], .array([.string("node"), .string("server.js")]))
        XCTAssertEqual(web[path: ["health", "http"]], .string("http://127.0.0.1:{port}/health"))
        let (_, worker) = try render("service/worker", TOMLTable([("depends_on", .array([.string("db")]))]))
        XCTAssertEqual(worker["depends_on"], .array([.string("db")]))
        XCTAssertNotNil(worker[path: ["health", "command"]]?.arrayValue)
        XCTAssertNil(worker["port"])
        let (dbPath, db) = try render("service/postgres", TOMLTable())
        XCTAssertEqual(dbPath, "db.toml")
        XCTAssertEqual(db["runtime"], .string("docker"))
        XCTAssertEqual(db["volumes"], .array([.string("db-data:/var/lib/postgresql/data")]))
        XCTAssertEqual(db[path: ["health", "command"]]?.arrayValue?.first, .string("pg_isready"))
    }

    /// org/default: org.toml has dev, staging and prod; its files/*.tmpl are copied as they
    /// are and render for every environment with the SPEC §2 context.
    func testOrgTemplateRendersAndItsFilesRenderForEveryEnvironment() throws {
        let catalog = TemplateCatalog(libraryTemplates: nil)
        let t = try catalog.load(try catalog.require("org/default"))
        let outputs = try t.render(TOMLTable([("name", .string("shop")), ("domain", .string("shop.example"))]))
        let byPath = Dictionary(uniqueKeysWithValues: outputs.map { ($0.path, $0) })
        let orgText = try XCTUnwrap(byPath["org.toml"]?.contents)
        let org = try TOMLParser.parse(orgText)
        XCTAssertEqual(org[path: ["org", "name"]], .string("shop"))
        XCTAssertEqual(org["environments"]?.tableValue?.keys, ["dev", "staging", "prod"])
        XCTAssertEqual(org[path: ["environments", "prod", "protected"]], .boolean(true))
        XCTAssertEqual(byPath["files/app.env.tmpl"]?.rendered, false, "per-environment templates are copied as they are")
        XCTAssertNil(byPath["template.toml"], "the manifest is not part of the result")
        for service in ["services/web.toml", "services/worker.toml"] {
            XCTAssertNoThrow(try TOMLParser.parse(try XCTUnwrap(byPath[service]?.contents)), service)
        }
        for env in ["dev", "staging", "prod"] {
            let context = try OrgRenderContext.build(org: org, environment: env, ports: ["web": 3000], secrets: [:])
            for file in ["files/app.env.tmpl", "files/nginx.conf.tmpl"] {
                let text = try Template(source: try XCTUnwrap(byPath[file]?.contents), name: file).render(context)
                XCTAssertTrue(text.contains("shop / \(env)"), "\(file) for \(env):\n\(text)")
                XCTAssertFalse(text.contains("{{"))
            }
        }
        let prod = try OrgRenderContext.build(org: org, environment: "prod", ports: ["web": 5000], secrets: [:])
        let nginx = try Template(source: byPath["files/nginx.conf.tmpl"]!.contents, name: "nginx").render(prod)
        XCTAssertTrue(nginx.contains("        server 10.0.0.11:5000;\n        server 10.0.0.12:5000;\n"), nginx)
        XCTAssertTrue(nginx.contains("listen 443 ssl;"))
        let dev = try OrgRenderContext.build(org: org, environment: "dev", ports: ["web": 3000], secrets: [:])
        let env = try Template(source: byPath["files/app.env.tmpl"]!.contents, name: "app.env").render(dev)
        XCTAssertEqual(env, """
            # shop / dev: generated by tetra from files/app.env.tmpl; edit that file.
            APP_NAME=shop
            APP_ENV=dev
            APP_DOMAIN=dev.shop.example
            APP_URL=http://dev.shop.example
            LOG_LEVEL=debug
            WEB_PORT=3000
            WEB_REPLICAS=1
            WORKER_CONCURRENCY=2

            """)
    }
}

final class TemplateTestDataBox: @unchecked Sendable {
    var data = Data()
}
