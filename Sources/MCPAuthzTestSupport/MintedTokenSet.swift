import Foundation

/// Keys and tokens minted by an independent library (PyJWT), through
/// `scripts/mint-test-tokens.py`: fresh keys every run, none committed. For tests and benchmarks.
public struct MintedTokenSet: Sendable {
    public let jwks: Data
    public let rotatedJWKS: Data
    /// Provider name to a JWKS in that provider's shape.
    public let providerJWKS: [String: Data]
    /// Case name to compact JWS.
    public let tokens: [String: String]
    /// The time the tokens were minted for, in seconds since 1970.
    public let now: Double
    public let issuer: String
    public let resource: String
    public let audience: String

    public struct MintingError: Error, CustomStringConvertible {
        public var description: String
    }

    private static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../scripts/mint-test-tokens.py")
            .standardized.path
    }

    /// Mints a fresh set; `issuer` is the `iss` to use (a stub IdP's URL), or the script's default.
    /// Blocks its thread: for synchronous callers (the benchmark, suite initializers).
    public static func mint(issuer: String? = nil) throws(MintingError) -> MintedTokenSet {
        let out = NSTemporaryDirectory() + "mcp-authz-minted-" + UUID().uuidString
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, out] + (issuer.map { [$0] } ?? [])
        do {
            try process.run()
            process.waitUntilExit()
        } catch {
            throw MintingError(description: "cannot run python3: \(error)")
        }
        guard process.terminationStatus == 0 else {
            throw MintingError(description: "mint-test-tokens.py failed; are PyJWT and cryptography installed (scripts/test installs them)?")
        }
        return try read(out)
    }

    /// As `mint(issuer:)`, without blocking a concurrency thread while Python runs.
    public static func mint(issuer: String? = nil) async throws(MintingError) -> MintedTokenSet {
        let out = NSTemporaryDirectory() + "mcp-authz-minted-" + UUID().uuidString
        do {
            _ = try await ChildProcess.output(["python3", script, out] + (issuer.map { [$0] } ?? []))
        } catch {
            throw MintingError(
                description: "mint-test-tokens.py failed (\(error)); are PyJWT and cryptography installed (scripts/test installs them)?")
        }
        return try read(out)
    }

    private static func read(_ out: String) throws(MintingError) -> MintedTokenSet {
        defer { try? FileManager.default.removeItem(atPath: out) }
        func read(_ name: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: out + "/" + name)) }
        struct Meta: Decodable {
            var now: Double
            var issuer: String
            var resource: String
            var audience: String
        }
        do {
            let shapes = try JSONSerialization.jsonObject(with: read("jwks_shapes.json")) as? [String: Any] ?? [:]
            let meta = try JSONDecoder().decode(Meta.self, from: read("meta.json"))
            return MintedTokenSet(
                jwks: try read("jwks.json"), rotatedJWKS: try read("jwks_rotated.json"),
                providerJWKS: try shapes.mapValues { try JSONSerialization.data(withJSONObject: $0) },
                tokens: try JSONDecoder().decode([String: String].self, from: read("tokens.json")),
                now: meta.now, issuer: meta.issuer, resource: meta.resource, audience: meta.audience
            )
        } catch {
            throw MintingError(description: "cannot read the minted files: \(error)")
        }
    }
}
