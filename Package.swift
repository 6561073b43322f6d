// swift-tools-version:6.1
import PackageDescription

/// Settings every target shares, so the whole package reads under the same rules.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "mcp-authz",
    products: [
        .executable(name: "mcp-authz", targets: ["MCPAuthzCLI"]),
        .executable(name: "policy-bench", targets: ["PolicyBenchmark"]),
        .executable(name: "token-bench", targets: ["TokenBenchmark"]),
        .executable(name: "limit-bench", targets: ["LimitBenchmark"]),
        .executable(name: "nio-constant", targets: ["NIOConstant"]),
    ],
    dependencies: [
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
    ],
    targets: [
        // The policy language: model, YAML loader and validation, compiled engine, explain, policy tests.
        .target(
            name: "MCPAuthzPolicy",
            dependencies: [.product(name: "Yams", package: "Yams"), .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
        // Tokens: compact JWS parsing, signature and claim checks, issuer key sets from JWKS.
        .target(
            name: "MCPAuthzTokens",
            dependencies: [
                "MCPAuthzPolicy",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        // The sidecar: forward auth, decision API, protected-resource metadata, hot reload, metrics.
        .target(
            name: "MCPAuthzServer",
            dependencies: [
                "MCPAuthzPolicy",
                "MCPAuthzTokens",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        // The `mcp-authz` command line.
        .executableTarget(
            name: "MCPAuthzCLI",
            dependencies: [
                "MCPAuthzPolicy",
                "MCPAuthzServer",
                "MCPAuthzTokens",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings,
            plugins: ["BuildInfo"]
        ),
        // Records the commit being built, for `mcp-authz version`.
        .plugin(name: "BuildInfo", capability: .buildTool()),
        // The benchmark's reference for the HTTP stack: SwiftNIO's HTTP/1 server answering a constant.
        .executableTarget(
            name: "NIOConstant",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // On-demand benchmark of what limits cost a request (never part of the tests).
        .executableTarget(
            name: "LimitBenchmark",
            dependencies: ["MCPAuthzServer", "MCPAuthzPolicy"],
            swiftSettings: swiftSettings
        ),
        // On-demand benchmark of the decision engine (never part of the tests).
        .executableTarget(
            name: "PolicyBenchmark",
            dependencies: ["MCPAuthzPolicy"],
            swiftSettings: swiftSettings
        ),
        // On-demand benchmark of token verification (never part of the tests).
        .executableTarget(
            name: "TokenBenchmark",
            dependencies: [
                "MCPAuthzTokens", "MCPAuthzPolicy", "MCPAuthzTestSupport", .product(name: "JWTKit", package: "jwt-kit"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MCPAuthzPolicyTests",
            dependencies: ["MCPAuthzPolicy"],
            swiftSettings: swiftSettings
        ),
        // For tests and benchmarks only: tokens minted by PyJWT, and a stub identity provider
        // serving discovery and JWKS on 127.0.0.1.
        .target(
            name: "MCPAuthzTestSupport",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MCPAuthzTokensTests",
            dependencies: [
                "MCPAuthzTokens",
                "MCPAuthzTestSupport",
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MCPAuthzServerTests",
            dependencies: [
                "MCPAuthzServer",
                "MCPAuthzTokens",
                "MCPAuthzPolicy",
                "MCPAuthzTestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)

// libFuzzer targets over the readers of hostile input. They link only against the fuzzer
// runtime, so they exist only for `scripts/fuzz`, which sets MCP_AUTHZ_FUZZ=1 and builds with
// `--sanitize fuzzer --sanitize address` in its own scratch folder.
if Context.environment["MCP_AUTHZ_FUZZ"] == "1" {
    package.products.append(.executable(name: "mcp-authz-fuzz", targets: ["MCPAuthzFuzz"]))
    package.targets.append(
        .executableTarget(
            name: "MCPAuthzFuzz",
            dependencies: ["MCPAuthzPolicy", "MCPAuthzTokens", "MCPAuthzServer"],
            swiftSettings: swiftSettings
        )
    )
}
