import Foundation
@testable import TetraCore
import XCTest

/// The helpers that replace Foundation-only APIs (tetra links only FoundationEssentials).
final class EssentialsTests: XCTestCase {
    func testTimestampsFormatAndParseFractionsAndOffsets() {
        let d = Date(timeIntervalSince1970: 1_795_000_000.75)
        XCTAssertEqual(Timestamps.iso8601(d), "2026-11-18T11:06:40Z")
        XCTAssertEqual(Timestamps.compact(d), "20261118T110640Z")
        XCTAssertEqual(Timestamps.parseISO8601("2026-11-18T11:06:40.75Z")?.timeIntervalSince1970, 1_795_000_000.75)
        XCTAssertEqual(Timestamps.parseISO8601("2026-11-18T12:06:40+01:00")?.timeIntervalSince1970, 1_795_000_000)
        XCTAssertEqual(Timestamps.parseISO8601("2026-11-18T05:36:40.5-05:30")?.timeIntervalSince1970, 1_795_000_000.5)
        XCTAssertNil(Timestamps.parseISO8601("2026-02-31T00:00:00Z"))
        XCTAssertNil(Timestamps.parseISO8601("2026-11-18T11:06:40"))
        XCTAssertEqual(ServiceRecord.formatDate(Date(timeIntervalSince1970: 0.125)), "1970-01-01T00:00:00.125Z")
    }

    func testNumberText() {
        XCTAssertEqual(NumberText.fixed(1.25, digits: 1), String(format: "%.1f", 1.25))
        XCTAssertEqual(NumberText.fixed(3.0, digits: 1), "3.0")
        XCTAssertEqual(NumberText.fixed(-0.04, digits: 1), "0.0")
        XCTAssertEqual(NumberText.zeroPadded(7, width: 3), "007")
        XCTAssertEqual(NumberText.hex(UInt32(0xBEEF), width: 8), "0000beef")
        XCTAssertEqual(SizeValue.format(1_500_000, binary: false), "1.5MB")
    }

    func testTextHelpersMatchFoundation() {
        for s in ["  a b \t", "\n x \r\n", "", "   ", "\u{00A0}y\u{2028}"] {
            XCTAssertEqual(s.trimming(.whitespaces), s.trimmingCharacters(in: .whitespaces), s)
            XCTAssertEqual(s.trimming(.whitespacesAndNewlines), s.trimmingCharacters(in: .whitespacesAndNewlines), s)
            XCTAssertEqual(s.trimming(.newlines), s.trimmingCharacters(in: .newlines), s)
        }
        XCTAssertEqual("a\r\nb\n".replacingAll("\n", with: "\r\n"), "a\r\n".replacingOccurrences(of: "\n", with: "\r\n") + "b\r\n")
        XCTAssertEqual("..a..".replacingAll("..", with: "._"), "._a._")
        let url = "ssh://host/x"
        XCTAssertEqual(url.firstRange(ofLiteral: "://").map { String(url[..<$0.lowerBound]) }, "ssh")
        XCTAssertEqual("ab".padded(to: 4), "ab  ")
        XCTAssertEqual("abcdef".padded(to: 4), "abcdef")
        XCTAssertEqual(LibraryURL.percentDecoded("a%20b%zz"), "a%20b%zz")
        XCTAssertEqual(LibraryURL.percentDecoded("us%40er"), "us@er")
    }

    func testPathText() {
        // NSString's own path methods crash in this toolchain (String._startOfLastPathComponent).
        let cases: [(String, String, String)] = [("/a/b", "b", "/a"), ("/a/b/", "b", "/a"), ("/a", "a", "/"), ("/", "/", "/"),
                                                 ("a", "a", ""), ("a/b/", "b", "a"), ("/a//b", "b", "/a")]
        for (p, last, parent) in cases {
            XCTAssertEqual(PathText.lastComponent(p), last, p)
            XCTAssertEqual(PathText.parent(p), parent, p)
        }
        XCTAssertEqual(PathText.parent(""), "")
        XCTAssertEqual(PathText.lastComponent(""), "")
        XCTAssertEqual(PathText.standardized("/no-such-dir-tetra/./x/../y//z/"), "/no-such-dir-tetra/y/z")
        XCTAssertEqual(PathText.standardized("/usr/./bin/../lib/no-such-tetra"), "/usr/lib/no-such-tetra")
    }

    func testHTTPDate() {
        XCTAssertEqual(ACMEClient.httpDate("Sun, 06 Nov 1994 08:49:37 GMT")?.timeIntervalSince1970, 784_111_777)
        XCTAssertNil(ACMEClient.httpDate("yesterday"))
    }
}
