import Foundation
import XCTest
@testable import TetraCLI
import TetraCore
import TetraTestSupport

/// Help of every group, the completion scripts and docs/commands.md are generated from
/// the command table; these tests pin them.
final class GoldenTests: XCTestCase {
    func testHelpOfEveryGroupAndCommandMatchesGolden() {
        let cli = InProcess()
        var paths: [[String]] = [[]]
        func walk(_ spec: CommandSpec, _ path: [String]) {
            for child in spec.subcommands where !child.hidden {
                paths.append(path + [child.name])
                walk(child, path + [child.name])
            }
        }
        walk(CommandTable.root, [])
        for path in paths {
            let result = cli.run(path + ["--help"])
            XCTAssertEqual(result.status, 0, "help for \(path)")
            XCTAssertEqual(result.stderr, "")
            let name = path.isEmpty ? "tetra" : path.joined(separator: "-")
            Golden.check(result.stdout, path: Golden.directory + "/help/\(name).txt")
        }
    }

    func testCompletionScriptsInRepositoryEqualGeneratorOutput() {
        let cli = InProcess()
        for (shell, file) in [("bash", "tetra.bash"), ("zsh", "_tetra"), ("fish", "tetra.fish")] {
            let result = cli.run(["completion", shell])
            XCTAssertEqual(result.status, 0)
            Golden.check(result.stdout, path: Golden.packageRoot + "/completions/\(file)")
        }
    }

    func testCommandReferenceIsGeneratedFromTheTable() throws {
        let path = Golden.packageRoot + "/docs/commands.md"
        let page = try String(contentsOfFile: path, encoding: .utf8)
        guard let spliced = ReferenceGenerator.splice(into: page) else {
            return XCTFail("docs/commands.md lacks the command reference markers")
        }
        if Golden.updating {
            try spliced.write(toFile: path, atomically: true, encoding: .utf8)
            return
        }
        XCTAssertEqual(page, spliced, "docs/commands.md is stale; run with TETRA_UPDATE_GOLDEN=1")
    }

    func testCommandReferenceListsEveryCommand() throws {
        let page = try String(contentsOfFile: Golden.packageRoot + "/docs/commands.md", encoding: .utf8)
        for path in CommandTable.commandPaths {
            XCTAssertTrue(page.contains("`tetra \(path)"), "docs/commands.md does not document 'tetra \(path)'")
        }
    }

    /// README is a short front door; the docs it links to exist.
    func testReadmeIsAShortFrontDoorWhoseLinksResolve() throws {
        let readme = try String(contentsOfFile: Golden.packageRoot + "/README.md", encoding: .utf8)
        XCTAssertLessThanOrEqual(readme.split(separator: "\n", omittingEmptySubsequences: false).count, 300)
        for page in ["docs/README.md", "docs/commands.md"] + Self.localLinks(readme) {
            XCTAssertTrue(FileManager.default.fileExists(atPath: Golden.packageRoot + "/" + page), "README links to \(page), which does not exist")
        }
        let index = try String(contentsOfFile: Golden.packageRoot + "/docs/README.md", encoding: .utf8)
        for page in Self.localLinks(index) {
            XCTAssertTrue(FileManager.default.fileExists(atPath: Golden.packageRoot + "/docs/" + page), "docs/README.md links to \(page)")
        }
    }

    /// `](path)` links that are not URLs or anchors, without their `#fragment`.
    static func localLinks(_ markdown: String) -> [String] {
        var out: [String] = []
        var rest = Substring(markdown)
        while let open = rest.range(of: "](") {
            rest = rest[open.upperBound...]
            guard let close = rest.firstIndex(of: ")") else { break }
            let target = String(rest[..<close].prefix { $0 != "#" })
            if !target.isEmpty, !target.contains("://"), !target.hasPrefix("mailto:") { out.append(target) }
        }
        return out
    }
}
