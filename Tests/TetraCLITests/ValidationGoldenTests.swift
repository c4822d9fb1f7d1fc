import Foundation
import XCTest
@testable import TetraCLI
import TetraCore
import TetraTestSupport

/// The `--json` document of `org validate`, pinned by a golden file.
final class ValidationGoldenTests: XCTestCase {
    func testOrgValidateJSONMatchesGolden() throws {
        let cli = InProcess()
        func write(_ rel: String, _ text: String) throws {
            let path = cli.stateRoot + "/" + rel
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        }
        try write("config/ports.toml", "[ports]\napi = 4000\n")
        try write("orgs/acme/org.toml", "[org]\nname = \"acme\"\n[environments.dev]\ntarget = \"/srv/dev\"\nkeep_releases = \"three\"\nprotectd = true\n")
        try write("orgs/acme/services/api.toml", "command = [\"api\"]\nport = \"web\"\ndepends_on = [\"db\"]\n")
        let r = cli.run(["org", "validate", "acme", "--json"])
        XCTAssertEqual(r.status, 3, r.stderr)
        Golden.check(r.stdout, path: Golden.directory + "/json/org-validate-problems.json")
    }
}
