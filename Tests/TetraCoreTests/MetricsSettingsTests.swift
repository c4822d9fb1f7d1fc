import XCTest
@testable import TetraCore
import TetraTestSupport

final class MetricsSettingsTests: XCTestCase {
    func testIntervalRangeAndPrecedence() throws {
        XCTAssertEqual(try MetricsSettings.interval("1s").get(), 1)
        XCTAssertEqual(try MetricsSettings.interval("1m").get(), 60)
        XCTAssertThrowsError(try MetricsSettings.interval("500ms").get())
        XCTAssertThrowsError(try MetricsSettings.interval("61s").get())
        XCTAssertThrowsError(try MetricsSettings.interval("soon").get())
        XCTAssertEqual(MetricsSettings.effective(service: nil, org: nil), 10)
        XCTAssertEqual(MetricsSettings.effective(service: nil, org: MetricsConfig(interval: "30s")), 30)
        XCTAssertEqual(MetricsSettings.effective(service: 5, org: MetricsConfig(interval: "30s")), 5, "the service's wins")
    }

    func testServiceDefinitionReadsItsIntervalWithPositions() throws {
        func check(_ text: String) -> ServiceDefinition.Checked {
            ServiceDefinition.check(try! TOMLDocument(parsing: text, fileName: "api.toml"), file: "api.toml", expectedName: "api")
        }
        XCTAssertEqual(check("command = [\"x\"]\n[metrics]\ninterval = \"5s\"\n").definition?.metricsInterval, 5)
        XCTAssertNil(check("command = [\"x\"]\n").definition?.metricsInterval)
        let bad = check("command = [\"x\"]\n[metrics]\ninterval = \"2h\"\nextra = 1\n")
        XCTAssertEqual(bad.problems.map(\.description), ["api.toml:3:12: metrics.interval: must be between 1s and 60s, found 2h"])
        XCTAssertEqual(bad.warnings.count, 1, "an unknown key of [metrics] is a warning")
        let wrongType = check("command = [\"x\"]\n[metrics]\ninterval = 5\n")
        XCTAssertEqual(wrongType.problems.count, 1)
    }

    func testOrgTomlIntervalIsValidatedWithItsPosition() throws {
        let doc = try TOMLDocument(parsing: "[org]\nname = \"acme\"\n\n[metrics]\ninterval = \"0s\"\n", fileName: "org.toml")
        let decoded = LoadedOrg.decode(doc, file: "org.toml")
        XCTAssertEqual(decoded.problems, [])
        let problems = MetricsSettings.problems(decoded.value?.metrics, document: doc, file: "org.toml")
        XCTAssertEqual(problems.map(\.description), ["org.toml:5:12: metrics.interval: must be between 1s and 60s, found 0s"])
    }
}
