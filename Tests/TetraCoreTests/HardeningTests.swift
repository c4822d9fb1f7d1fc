import Foundation
import XCTest
@testable import TetraCore

/// Bounds and refusals against hostile input (templates, ssh options, names, env values).
final class HardeningTests: XCTestCase {
    /// p1 includes p2 twice, ..., p32 is `leaf`.
    func doubling(leaf: String) -> TemplatePartials {
        var templates: [String: Template] = [:]
        for i in 1...31 { templates["p\(i)"] = try! Template(source: "{{> p\(i + 1)}}{{> p\(i + 1)}}", name: "p\(i)") }
        templates["p32"] = try! Template(source: leaf, name: "p32")
        return TemplatePartials(templates)
    }

    func testRunawayOutputIsBoundedAndNamesTheChain() throws {
        let template = try Template(source: "{{> p1}}", name: "a.tmpl")
        XCTAssertThrowsError(try template.renderResult(TOMLTable(), partials: doubling(leaf: String(repeating: "x", count: 64)))) { error in
            let limit = error as? TemplateLimitError
            XCTAssertEqual(limit?.exitCode, .invalidConfig)
            XCTAssertTrue(limit?.message.contains("rendered output exceeds the limit of 16 MiB per file (a.tmpl -> p1 -> p2 -> p3 -> p4 -> ... -> p30 -> p31 -> p32)") == true,
                          "\(error)")
        }
        // Validation does not collect the limit and go on: it ends there too.
        XCTAssertThrowsError(try template.validate(TOMLTable(), partials: doubling(leaf: String(repeating: "x", count: 64)))) { error in
            XCTAssertTrue(error is TemplateLimitError, "\(error)")
        }
        // A caller's smaller bound.
        XCTAssertThrowsError(try Template(source: "{{#each xs}}{{.}}{{/each}}", name: "t").renderResult(
            TOMLTable([("xs", .array((0..<100).map { .integer(Int64($0)) }))]), maxOutput: 50)) { error in
            XCTAssertTrue("\(error)".contains("exceeds the limit of 50 bytes per file (t)"), "\(error)")
        }
    }

    func testRenderingChecksTheInterruptFlag() throws {
        let flag = InterruptFlag()
        flag.raise()
        let template = try Template(source: "{{> p1}}", name: "a.tmpl")
        XCTAssertThrowsError(try template.renderResult(TOMLTable(), partials: doubling(leaf: ""), interrupt: flag)) { error in
            XCTAssertEqual(error as? CoreError, .interrupted)
        }
        XCTAssertThrowsError(try template.validate(TOMLTable(), partials: doubling(leaf: ""), interrupt: flag)) { error in
            XCTAssertEqual(error as? CoreError, .interrupted)
        }
    }

    func testSSHOptionAllowlist() {
        for ok in ["Port=2222", "user=deploy", "IdentityFile=~/.ssh/id_ed25519", "StrictHostKeyChecking=accept-new",
                   "USERKNOWNHOSTSFILE=/etc/ssh/known", "ServerAliveInterval=15", "HostKeyAlgorithms=+ssh-rsa"] {
            XCTAssertNil(EnvironmentConfig.sshOptionProblem(ok), ok)
        }
        for bad in ["ProxyCommand=nc %h %p", "proxycommand=x", "LocalCommand=x", "KnownHostsCommand=x", "PermitLocalCommand=yes",
                    "Match=exec x", "Include=/tmp/x", "-oProxyCommand=x", "-o", "ProxyCommand x", "Port=22 ProxyCommand=x",
                    "Port=22\nProxyCommand=x", "User=\"a b\"", "User=-x", "Port=", "=x", "Port", "ProxyJump=h", "ForwardAgent=yes",
                    "ControlPersist=yes", "RemoteCommand=x"] {
            XCTAssertNotNil(EnvironmentConfig.sshOptionProblem(bad), bad)
        }
    }

    /// Control characters in keys are escaped in messages (one escaper: `Names.printable`).
    func testKeysWithControlCharactersAreEscapedInMessages() throws {
        XCTAssertThrowsError(try ConfigFiles.keyPath("x\ny")) { error in
            let message = (error as? CoreError)?.message ?? ""
            XCTAssertEqual(message, "invalid key path 'x\\ny'")
        }
        struct Model: Decodable { var a: Int }
        let document = try TOMLDocument(bytes: Array("a = 1\n\"b\\nc\\u001b[31m\" = 2\n".utf8), fileName: "m.toml")
        let (_, warnings) = try TOMLDecoder().decode(Model.self, from: document, file: "m.toml")
        XCTAssertEqual(warnings.map(\.message), ["unknown key 'b\\nc\\u{1b}[31m'"])
    }

    /// A NUL in a service's env value or command, or in a secrets.env value, is refused
    /// (exit 3, file:line:column) instead of being cut short at exec.
    func testNULInEnvValuesIsRefused() throws {
        let text = "name = \"web\"\ncommand = [\"/bin/sh\", \"-c\", \"a\\u0000b\"]\nenv = { GOOD = \"x\", BAD = \"a\\u0000b\" }\n"
        XCTAssertThrowsError(try ServiceDefinition.parse(try TOMLDocument(parsing: text, fileName: "web.toml"), file: "web.toml", expectedName: "web")) { error in
            XCTAssertEqual((error as? ConfigError)?.exitCode, .invalidConfig)
            let message = "\(error)"
            XCTAssertTrue(message.contains("env.BAD: the value contains a NUL character"), message)
            XCTAssertTrue(message.contains("command[2] contains a NUL character"), message)
            XCTAssertFalse(message.contains("GOOD"), message)
        }
        XCTAssertThrowsError(try SecretsFile.parse("A=ok\nB=\"x\u{0}y\"\n", file: "secrets.env")) { error in
            XCTAssertTrue("\(error)".contains("secrets.env:2:3: B: the value contains a NUL character"), "\(error)")
        }
    }

    func testReleaseOutputBoundAndApproveForm() {
        XCTAssertNoThrow(try OrgRenderer.checkReleaseBound(Template.maxReleaseOutputBytes, "files/a.tmpl"))
        XCTAssertThrowsError(try OrgRenderer.checkReleaseBound(Template.maxReleaseOutputBytes + 1, "files/a.tmpl")) { error in
            XCTAssertEqual((error as? TemplateLimitError)?.exitCode, .invalidConfig)
            XCTAssertTrue("\(error)".contains("files/a.tmpl: rendered output of the release exceeds the limit of 256 MiB"), "\(error)")
        }
        XCTAssertEqual(OrgService.approvedCommand(["tetra", "org", "push", "acme", "prod", "-m", "it's"], verb: "push"),
                       #"tetra org push acme prod -m 'it'\''s' --approve"#)
        XCTAssertEqual(OrgService.approvedCommand(["tetra", "env", "rollback", "prod", "--", "x"], verb: "rollback"),
                       "tetra env rollback prod --approve -- x")
        XCTAssertEqual(OrgService.approvedCommand([], verb: "promote"), "the same promote command with --approve")
    }
}
