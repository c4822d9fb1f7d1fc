import Foundation
import XCTest
@testable import TetraCLI
import TetraCore

/// Help of every group, the completion scripts and the README reference are generated from
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

    func testReadmeReferenceIsGeneratedFromTheTable() throws {
        let readmePath = Golden.packageRoot + "/README.md"
        let readme = try String(contentsOfFile: readmePath, encoding: .utf8)
        guard let spliced = ReferenceGenerator.splice(into: readme) else {
            return XCTFail("README.md lacks the command reference markers")
        }
        if Golden.updating {
            try spliced.write(toFile: readmePath, atomically: true, encoding: .utf8)
            return
        }
        XCTAssertEqual(readme, spliced, "README command reference is stale; run with TETRA_UPDATE_GOLDEN=1")
    }

    func testReadmeListsEveryCommand() throws {
        let readme = try String(contentsOfFile: Golden.packageRoot + "/README.md", encoding: .utf8)
        for path in CommandTable.commandPaths {
            XCTAssertTrue(readme.contains("`tetra \(path)"), "README does not document 'tetra \(path)'")
        }
    }
}
