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
        .testTarget(name: "TetraCoreTests", dependencies: ["TetraCore"]),
        .testTarget(name: "TetraCLITests", dependencies: ["TetraCLI", "TetraCore"], exclude: ["Golden"]),
        .testTarget(name: "EndToEndTests", dependencies: ["TetraCore"]),
    ],
    swiftLanguageModes: [.v6]
)
