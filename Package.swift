// swift-tools-version:6.1
import PackageDescription

/// Settings every target shares, so the whole package reads under the same rules.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "mcp-authz",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "mcp-authz", targets: ["MCPAuthzCLI"]),
        .executable(name: "policy-bench", targets: ["PolicyBenchmark"]),
    ],
    dependencies: [
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
    ],
    targets: [
        // The policy language: model, YAML loader and validation, compiled engine, explain, policy tests.
        .target(
            name: "MCPAuthzPolicy",
            dependencies: [.product(name: "Yams", package: "Yams")],
            swiftSettings: swiftSettings
        ),
        // Tokens: compact JWS parsing, signature and claim checks, issuer key sets from JWKS.
        .target(
            name: "MCPAuthzTokens",
            dependencies: ["MCPAuthzPolicy", .product(name: "JWTKit", package: "jwt-kit")],
            swiftSettings: swiftSettings
        ),
        // The `mcp-authz` command line.
        .executableTarget(
            name: "MCPAuthzCLI",
            dependencies: [
                "MCPAuthzPolicy",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        // On-demand benchmark of the decision engine (never part of the tests).
        .executableTarget(
            name: "PolicyBenchmark",
            dependencies: ["MCPAuthzPolicy"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MCPAuthzPolicyTests",
            dependencies: ["MCPAuthzPolicy"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MCPAuthzTokensTests",
            dependencies: ["MCPAuthzTokens"],
            swiftSettings: swiftSettings
        ),
    ]
)
