import Foundation
import MCPAuthzPolicy
import Testing

@testable import MCPAuthzTokens

/// Keys and tokens minted for this test run by an independent library (PyJWT), through
/// `scripts/mint-test-tokens.py`. Fresh keys every run; none is committed.
struct MintedTokens: Sendable {
    let jwks: Data
    let rotatedJWKS: Data
    /// Provider name to a JWKS in that provider's shape.
    let providerJWKS: [String: Data]
    let tokens: [String: String]
    let now: Double
    let issuer: String
    let resource: String
    let audience: String

    static let shared: Result<MintedTokens, MintingError> = mint(issuer: nil)

    struct MintingError: Error, CustomStringConvertible {
        var description: String
    }

    static func load() throws -> MintedTokens { try shared.get() }

    /// Mints a fresh set, for an issuer URL of the test's choosing (a stub IdP's).
    static func mint(issuer: String?) -> Result<MintedTokens, MintingError> {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized
        let out = NSTemporaryDirectory() + "mcp-authz-minted-" + UUID().uuidString
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", root.appendingPathComponent("scripts/mint-test-tokens.py").path, out] + (issuer.map { [$0] } ?? [])
        do {
            try process.run()
            process.waitUntilExit()
        } catch {
            return .failure(MintingError(description: "cannot run python3: \(error)"))
        }
        guard process.terminationStatus == 0 else {
            return .failure(MintingError(description: "mint-test-tokens.py failed; is PyJWT installed (scripts/test installs it)?"))
        }
        defer { try? FileManager.default.removeItem(atPath: out) }
        do {
            let jwks = try Data(contentsOf: URL(fileURLWithPath: out + "/jwks.json"))
            let rotatedJWKS = try Data(contentsOf: URL(fileURLWithPath: out + "/jwks_rotated.json"))
            let shapes =
                try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/jwks_shapes.json"))) as? [String: Any] ?? [:]
            let providerJWKS = try shapes.mapValues { try JSONSerialization.data(withJSONObject: $0) }
            let tokens = try JSONDecoder().decode([String: String].self, from: Data(contentsOf: URL(fileURLWithPath: out + "/tokens.json")))
            struct Meta: Decodable {
                var now: Double
                var issuer: String
                var resource: String
                var audience: String
            }
            let meta = try JSONDecoder().decode(Meta.self, from: Data(contentsOf: URL(fileURLWithPath: out + "/meta.json")))
            return .success(
                MintedTokens(
                    jwks: jwks, rotatedJWKS: rotatedJWKS, providerJWKS: providerJWKS, tokens: tokens, now: meta.now, issuer: meta.issuer,
                    resource: meta.resource,
                    audience: meta.audience
                )
            )
        } catch {
            return .failure(MintingError(description: "cannot read minted files: \(error)"))
        }
    }

    func token(_ name: String) throws -> String {
        try #require(tokens[name], "no minted token named \(name)")
    }

    /// A one-issuer, one-server policy matching the minted tokens.
    func snapshot(issuerExtra: String = "", accepted: String = "idp") throws -> PolicySnapshot {
        let yaml = """
            version: 1
            issuers:
              - id: idp
                issuer: \(issuer)
                algorithms: [RS256, PS256, ES256, EdDSA]\(issuerExtra)
              - id: other
                issuer: https://other.test.example/
            servers:
              - id: srv
                match: { path_prefix: /mcp }
                resource: \(resource)
                audiences: [\(audience)]
                issuers: [\(accepted)]
                rules:
                  - name: r
                    allow: { methods: [ping] }
            """
        let file = NSTemporaryDirectory() + "mcp-authz-token-policy-" + UUID().uuidString + ".yaml"
        try yaml.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        return try PolicySnapshot.load(path: file).snapshot
    }
}
