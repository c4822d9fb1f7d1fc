import XCTest
@testable import TetraCore

/// Random token soup must never crash the parser or the renderer: it renders or throws.
final class TemplateRobustnessTests: TemplateTestCase {
    func testRandomInputsNeverTrap() throws {
        let pieces = ["{{", "}}", "{{{", "}}}", "{{{{raw}}}}", "{{{{/raw}}}}", "#if ", "#unless ", "#each ", "/if", "/each",
                      "else", "else if ", "~", "!", "!--", "--", "\\", "\n", "\r\n", " ", "\t", "x", "y", ".", "..", "../",
                      "@index", "@key", "@root", "this", ">", "> p", "p", "[", "]", "é", "{", "}", "0"]
        var rng = SplitMix64(seed: 0x7E77A)
        let context = ctx(["x": .array([.integer(1), tbl(["y": .string("t")])]), "y": tbl(["k": .boolean(true)])])
        let partials = try TemplatePartials(sources: ["p": "{{#each x}}{{.}}{{/each}}\n", "q": "{{> q}}"])
        var rendered = 0
        for _ in 0..<3000 {
            let count = Int(rng.next() % 24) + 1
            var source = ""
            for _ in 0..<count { source += pieces[Int(rng.next() % UInt64(pieces.count))] }
            guard let template = try? Template(source: source, name: "fuzz") else { continue }
            if (try? template.render(context, partials: partials)) != nil { rendered += 1 }
            _ = try? template.validate(context, partials: partials)
            _ = template.referencedVariables()
        }
        XCTAssertGreaterThan(rendered, 100)
    }

    /// A small deterministic generator (SplitMix64).
    struct SplitMix64 {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }
}
