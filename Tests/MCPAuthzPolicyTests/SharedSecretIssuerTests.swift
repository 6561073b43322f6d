import Foundation
import Testing

@testable import MCPAuthzPolicy

/// `secret_file`: an issuer that signs with HMAC, and what the policy refuses about it.
@Suite struct SharedSecretIssuerTests {
    static func policy(issuer: String) -> String {
        """
        version: 1
        issuers:
          - id: shared
            issuer: https://shared.example.com/
        \(issuer)
        servers:
          - id: srv
            match: { path_prefix: /mcp }
            resource: https://srv.example.com/mcp
            issuers: [shared]
            rules:
              - name: all
                allow: { methods: [ping] }
        """
    }

    /// The policy's diagnostics with a secret file of `bytes` bytes beside it (mode 0600).
    static func diagnostics(issuer: String, secret bytes: Int = 32, mode: Int = 0o600) throws -> (errors: [String], warnings: [String]) {
        let fixture = try PolicyFixture(["policy.yaml": policy(issuer: issuer)])
        defer { fixture.remove() }
        try String(repeating: "k", count: bytes).appending("\n").write(toFile: fixture.path("secret.key"), atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: fixture.path("secret.key"))
        func stripped(_ diagnostics: [PolicyDiagnostic]) -> [String] {
            diagnostics.map { $0.description.replacingOccurrences(of: fixture.folder + "/", with: "") }
        }
        do {
            let result = try fixture.load()
            #expect(result.policy.issuers[0].secretFile?.value == fixture.path("secret.key"))
            return ([], stripped(result.warnings))
        } catch {
            return (stripped(error.diagnostics), [])
        }
    }

    @Test func aSecretAsLongAsTheHashIsAcceptedAndResolvedBesideThePolicy() throws {
        let loaded = try Self.diagnostics(issuer: "    secret_file: secret.key")
        #expect(loaded.errors.isEmpty && loaded.warnings.isEmpty)
        #expect(try Self.diagnostics(issuer: "    secret_file: secret.key\n    algorithms: [HS256, HS512]", secret: 64).errors.isEmpty)
    }

    @Test func aShortSecretIsRefusedWithTheLengthNeededNeverTheSecret() throws {
        let short = try Self.diagnostics(issuer: "    secret_file: secret.key", secret: 31)
        #expect(
            short.errors == [
                "policy.yaml:5:18: secret_file secret.key holds a 31-byte secret; HS256 needs at least 32 bytes (256 bits): make one with `openssl rand -hex 32 > secret.key`"
            ])
        #expect(!short.errors.joined().contains(String(repeating: "k", count: 8)))
        let hs512 = try Self.diagnostics(issuer: "    secret_file: secret.key\n    algorithms: [HS256, HS512]", secret: 48)
        #expect(hs512.errors.first?.contains("HS512 needs at least 64 bytes") == true)
    }

    @Test func sharedSecretAndPublicKeysDoNotMix() throws {
        #expect(
            try Self.diagnostics(issuer: "    secret_file: secret.key\n    jwks_uri: https://shared.example.com/jwks").errors == [
                "policy.yaml:5:18: issuer 'shared' sets secret_file and public keys (jwks_uri or jwks_file); an issuer signs one way: keep one"
            ])
        #expect(
            try Self.diagnostics(issuer: "    secret_file: secret.key\n    algorithms: [RS256]").errors == [
                "policy.yaml:6:18: issuer 'shared' has a secret_file, so its algorithms are HS256, HS384 or HS512, not 'RS256'"
            ])
        #expect(
            try Self.diagnostics(issuer: "    algorithms: [HS256]").errors == [
                "policy.yaml:5:18: algorithm 'HS256' is a shared-secret (HMAC) algorithm: only an issuer with secret_file (and no public keys) may use it"
            ])
    }

    @Test func aSecretOthersMayReadIsWarnedAboutAndAMissingOneRefused() throws {
        let open = try Self.diagnostics(issuer: "    secret_file: secret.key", mode: 0o644)
        #expect(open.warnings == ["policy.yaml:5:18: warning: secret_file secret.key may be read by others (mode 644); chmod 600 it"])
        let missing = try Self.diagnostics(issuer: "    secret_file: nowhere.key")
        #expect(missing.errors.count == 1 && missing.errors[0].hasPrefix("policy.yaml:5:18: secret_file nowhere.key: "))
    }
}
