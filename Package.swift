// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "tetra",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "tetra", targets: ["tetra"]),
    ],
    targets: [
        // The core: never prints, never reads argv, never exits.
        .target(name: "TetraCore"),
        // The CLI: command table, parser, help, output rendering, command handlers.
        .target(name: "TetraCLI", dependencies: ["TetraCore"]),
        // Thin entry point: builds the real context, runs the CLI, exits.
        .executableTarget(name: "tetra", dependencies: ["TetraCLI", "TetraCore"]),
        // For tests only (not linked into tetra): the fail-closed fake process runner, golden files.
        .target(name: "TetraTestSupport", dependencies: ["TetraCore"]),
        .testTarget(name: "TetraCoreTests", dependencies: ["TetraCore", "TetraTestSupport"]),
        .testTarget(name: "TetraCLITests", dependencies: ["TetraCLI", "TetraCore", "TetraTestSupport"], exclude: ["Golden"]),
        .testTarget(name: "EndToEndTests", dependencies: ["TetraCore", "TetraTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
