import Foundation
import MCPAuthzPolicy
import MCPAuthzTestSupport
import Testing

@testable import MCPAuthzTokens

/// One minted set shared by the tests that need no particular issuer URL.
private let sharedMintedTokens = Result { () throws(MintedTokenSet.MintingError) in try MintedTokenSet.mint() }

extension MintedTokenSet {
    static func load() throws -> MintedTokenSet { try sharedMintedTokens.get() }

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

extension TokenAuthenticator {
    /// Why a token is refused for a server now, or "accepted".
    func outcome(_ token: String, for server: ServerConfig, in snapshot: PolicySnapshot) async -> String {
        do {
            _ = try await authenticate(token, for: server, in: snapshot, now: Date().timeIntervalSince1970)
            return "accepted"
        } catch {
            return error.reason.rawValue
        }
    }
}
