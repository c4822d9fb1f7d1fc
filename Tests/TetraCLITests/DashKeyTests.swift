import XCTest
@testable import TetraCLI

/// `tetra dash`'s key decoding and status-line prompts (the terminal itself is driven in
/// tmux by Tests/EndToEndTests/DashE2ETests.swift).
final class DashKeyTests: XCTestCase {
    func testKeysFromRawInput() {
        XCTAssertEqual(DashKey.parse(Array("\u{1B}[A\u{1B}[BjkS\t\r".utf8)), [.up, .down, .char("j"), .char("k"), .char("S"), .tab, .enter])
        XCTAssertEqual(DashKey.parse([0x03, 0x7F, 0x1B]), [.ctrlC, .backspace, .escape])
        XCTAssertEqual(DashKey.parse(Array("\u{1B}OA".utf8)), [.up])
        // A longer sequence (Ctrl-Up) is one unknown key, and the next key still reads.
        XCTAssertEqual(DashKey.parse(Array("\u{1B}[1;5Aq".utf8)), [.other, .char("q")])
    }

    func testConfirmTakesOneKeyAndTypedNeedsEnter() {
        var confirm = DashPrompt(kind: .confirm(.restart, "api"), label: "restart api? [y/N] ", text: "")
        guard case .done("y") = confirm.feed(.char("y")) else { return XCTFail() }
        guard case .done("") = confirm.feed(.enter) else { return XCTFail() }
        var typed = DashPrompt(kind: .typed(.stop, "api"), label: "type api: ", text: "")
        for c in "apx" { guard case .editing = typed.feed(.char(c)) else { return XCTFail() } }
        _ = typed.feed(.backspace)
        _ = typed.feed(.char("i"))
        XCTAssertEqual(typed.line, "type api: api_")
        guard case .done("api") = typed.feed(.enter) else { return XCTFail() }
        guard case .cancelled = typed.feed(.escape) else { return XCTFail() }
    }
}
