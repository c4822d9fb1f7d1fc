import Foundation
import XCTest
@testable import TetraCore

/// examples/: every TOML file parses; every `.tmpl` of the example org renders for every
/// environment with the SPEC §2 context (vars merged with the environment's vars, org, env,
/// ports from examples/ports.toml, secrets from a fake table); rendered TOML parses too.
final class TemplateExamplesTests: XCTestCase {
    static var examples: String { TemplateBuiltinTests.packageRoot + "/examples" }

    static func files(under dir: String) -> [String] {
        TemplateCatalog.regularFiles(under: dir, maxDepth: nil)
    }

    func testEveryExampleTOMLFileParses() throws {
        let tomls = Self.files(under: Self.examples).filter { $0.hasSuffix(".toml") }
        XCTAssertGreaterThanOrEqual(tomls.count, 6, "\(tomls)")
        for path in tomls {
            let text = try String(contentsOfFile: Self.examples + "/" + path, encoding: .utf8)
            XCTAssertNoThrow(try TOMLParser.parse(text, file: path), path)
        }
    }

    /// Every file is explained: TOML and env files start with a comment, templates with a
    /// {{! }} comment.
    func testEveryExampleFileStartsWithAnExplanation() throws {
        for path in Self.files(under: Self.examples) where !path.hasSuffix(".md") {
            let text = try String(contentsOfFile: Self.examples + "/" + path, encoding: .utf8)
            let ok = path.hasSuffix(".tmpl") ? text.hasPrefix("{{!") : text.hasPrefix("#")
            XCTAssertTrue(ok, "\(path) does not start with an explaining comment")
        }
    }

    func testTheExampleOrgHasThreeEnvironmentsAndThreeServices() throws {
        let org = try TOMLParser.parse(try String(contentsOfFile: Self.examples + "/acme/org.toml", encoding: .utf8))
        XCTAssertEqual(org["environments"]?.tableValue?.keys, ["dev", "staging", "prod"])
        let services = Self.files(under: Self.examples + "/acme/services")
        XCTAssertEqual(services.count, 3)
        var runtimes: [String] = []
        for s in services {
            let t = try TOMLParser.parse(try String(contentsOfFile: Self.examples + "/acme/services/" + s, encoding: .utf8))
            XCTAssertEqual(t["name"]?.stringValue.map { $0 + ".toml" }, s)
            runtimes.append(t["runtime"]?.stringValue ?? "?")
        }
        XCTAssertEqual(runtimes.sorted(), ["docker", "process", "process"])
    }

    /// Renders every .tmpl for every environment; returns env → path → output.
    func renderAll() throws -> [String: [String: TemplateRenderResult]] {
        let root = Self.examples + "/acme"
        let org = try TOMLParser.parse(try String(contentsOfFile: root + "/org.toml", encoding: .utf8), file: "org.toml")
        let registry = try TOMLParser.parse(try String(contentsOfFile: Self.examples + "/ports.toml", encoding: .utf8))
        var ports: [String: Int] = [:]
        for (name, value) in registry["ports"]?.tableValue ?? TOMLTable() { ports[name] = Int(value.integerValue ?? 0) }
        // The secret names of secrets.env.example, with fake values.
        var secrets: [String: String] = [:]
        for line in try String(contentsOfFile: root + "/secrets.env.example", encoding: .utf8).split(separator: "\n")
        where !line.hasPrefix("#") && line.contains("=") {
            secrets[String(line.split(separator: "=")[0])] = "fake-\(line.split(separator: "=")[0].lowercased())"
        }
        XCTAssertEqual(secrets.keys.sorted(), ["DATABASE_URL", "POSTGRES_PASSWORD", "SESSION_SECRET"])
        let partials = CatalogPartials(catalog: TemplateCatalog(libraryTemplates: nil), directories: [root + "/partials"])
        let templates = Self.files(under: root + "/files").filter { $0.hasSuffix(".tmpl") }
        XCTAssertGreaterThanOrEqual(templates.count, 3)
        var out: [String: [String: TemplateRenderResult]] = [:]
        for env in org["environments"]?.tableValue?.keys ?? [] {
            let context = try OrgRenderContext.build(org: org, environment: env, ports: ports, secrets: secrets, file: "org.toml")
            for path in templates {
                let source = try String(contentsOfFile: root + "/files/" + path, encoding: .utf8)
                let t = try Template(source: source, name: "examples/acme/files/" + path)
                XCTAssertEqual(try t.validate(context, partials: partials), [], "\(path) for \(env)")
                let result = try t.renderResult(context, partials: partials)
                out[env, default: [:]][String(path.dropLast(5))] = result
            }
        }
        return out
    }

    func testEveryTemplateRendersForEveryEnvironment() throws {
        let all = try renderAll()
        XCTAssertEqual(all.keys.sorted(), ["dev", "prod", "staging"])
        for (env, files) in all {
            for (path, result) in files {
                XCTAssertFalse(result.text.contains("{{"), "\(path) for \(env) kept a tag")
                XCTAssertTrue(result.text.contains("acme / \(env)"), "\(path) for \(env) names org and env")
                if path.hasSuffix(".toml") {
                    XCTAssertNoThrow(try TOMLParser.parse(result.text, file: path), "\(path) for \(env):\n\(result.text)")
                }
            }
            XCTAssertTrue(files["app.env"]?.usesSecrets == true, "app.env reads secrets: written 0600")
            XCTAssertFalse(files["nginx.conf"]?.usesSecrets == true)
        }
    }

    func testRenderedFilesLookHandWritten() throws {
        let all = try renderAll()
        let prodNginx = try XCTUnwrap(all["prod"]?["nginx.conf"]?.text)
        XCTAssertTrue(prodNginx.contains("""
                upstream acme-shop_api {
                    server 10.0.1.11:3100 weight=2;
                    server 10.0.1.12:3100 weight=2;
                    server 10.0.1.13:3100 weight=1 backup;
                }
            """), prodNginx)
        XCTAssertTrue(prodNginx.contains("""
                    location / {
                        proxy_pass http://acme-shop_api;
                        proxy_set_header Host $host;
                        proxy_set_header X-Real-IP $remote_addr;
                        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
                        proxy_set_header X-Forwarded-Proto https;
                        proxy_http_version 1.1;
                    }
            """), prodNginx)
        XCTAssertFalse(prodNginx.contains("/debug/"))
        XCTAssertFalse(prodNginx.contains("\n\n\n"), "no runs of blank lines")
        let devNginx = try XCTUnwrap(all["dev"]?["nginx.conf"]?.text)
        XCTAssertTrue(devNginx.contains("location /debug/"))
        XCTAssertFalse(devNginx.contains("listen 443"))

        XCTAssertEqual(all["dev"]?["app.env"]?.text, """
            # acme / dev: generated by tetra from files/app.env.tmpl; edit that file.
            APP_NAME=acme-shop
            APP_ENV=dev
            PORT=3100
            PUBLIC_URL=http://dev.shop.acme.example
            LOG_LEVEL=debug
            DEBUG=1
            REPLICAS=1

            # Secrets: from secrets.env (mode 0600), injected here at render time.
            DATABASE_URL=fake-database_url
            SESSION_SECRET=fake-session_secret

            # Feature flags: one line per key of the `features` table.
            FEATURE_checkout_v2=on
            FEATURE_search=on
            CORS_ORIGINS=http://localhost:3000,http://dev.shop.acme.example

            """)

        let queues = try TOMLParser.parse(try XCTUnwrap(all["prod"]?["worker/queues.toml"]?.text))
        let items = try XCTUnwrap(queues["queue"]?.arrayValue)
        XCTAssertEqual(items.compactMap { $0.tableValue?["name"]?.stringValue }, ["emails", "webhooks", "reports"])
        XCTAssertEqual(items.compactMap { $0.tableValue?["priority"]?.integerValue }, [0, 1, 2])
        XCTAssertEqual(items.compactMap { $0.tableValue?["default"]?.boolValue }, [true])
    }
}
