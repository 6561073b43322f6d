import Foundation
import Testing

@testable import MCPAuthzPolicy

/// `introspection` and `token_format` on issuers, and what the policy refuses about them.
@Suite struct IntrospectionConfigTests {
    static func policy(issuer: String, second: String = "", accepted: String = "opaque") -> String {
        """
        version: 1
        issuers:
          - id: opaque
            issuer: https://idp.example.com/
        \(issuer)
          - id: jwt
            issuer: https://jwt.example.com/
        \(second)
        servers:
          - id: srv
            match: { path_prefix: /mcp }
            resource: https://srv.example.com/mcp
            issuers: [\(accepted)]
            rules:
              - name: all
                allow: { methods: [ping] }
        """
    }

    /// A fixture of the policy with a client secret file beside it (mode 0600).
    static func fixture(issuer: String, second: String, accepted: String, secret: String) throws -> PolicyFixture {
        let fixture = try PolicyFixture(["policy.yaml": policy(issuer: issuer, second: second, accepted: accepted)])
        try secret.write(toFile: fixture.path("client.secret"), atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: fixture.path("client.secret"))
        return fixture
    }

    static func load(issuer: String, second: String = "", accepted: String = "opaque") throws -> PolicySet {
        let fixture = try fixture(issuer: issuer, second: second, accepted: accepted, secret: "s3cret\n")
        defer { fixture.remove() }
        return try fixture.load().policy
    }

    /// The load's errors as `line:column: message`, the folder stripped.
    static func errors(issuer: String, second: String = "", accepted: String = "opaque", secret: String = "s3cret\n") throws -> [String] {
        let fixture = try fixture(issuer: issuer, second: second, accepted: accepted, secret: secret)
        defer { fixture.remove() }
        do {
            _ = try fixture.load()
            return []
        } catch {
            return error.diagnostics.map {
                $0.description.replacingOccurrences(of: fixture.folder + "/", with: "").replacingOccurrences(of: "policy.yaml:", with: "")
            }
        }
    }

    static let introspection = """
            introspection:
              url: https://idp.example.com/introspect
              client_id: mcp-authz
              client_secret_file: client.secret
        """

    @Test func introspectionMakesAnIssuerOpaqueByDefaultAndResolvesTheSecretBesideThePolicy() throws {
        let policy = try Self.load(issuer: Self.introspection)
        let issuer = policy.issuers[0]
        #expect(issuer.tokenFormat == .opaque && !issuer.verifiesJWTs)
        #expect(issuer.introspection?.auth == .basic && issuer.introspection?.clientID == "mcp-authz")
        #expect(issuer.introspection?.clientSecretFile.value.hasSuffix("/client.secret") == true)
        #expect(issuer.introspection?.clientSecretFile.value.hasPrefix("/") == true)
        #expect(policy.issuers[1].tokenFormat == .jwt)
        let both = try Self.load(issuer: Self.introspection + "\n      auth: post\n    token_format: both").issuers[0]
        #expect(both.tokenFormat == .both && both.verifiesJWTs && both.introspection?.auth == .post)
    }

    @Test func aTokenFormatOtherThanJWTNeedsAnEndpoint() throws {
        #expect(
            try Self.errors(issuer: "    token_format: opaque") == [
                "5:19: token_format opaque needs introspection: { url, client_id, client_secret_file } on issuer 'opaque'"
            ])
        #expect(try Self.errors(issuer: "    token_format: opake").first?.contains("found 'opake' (did you mean 'opaque'?)") == true)
    }

    @Test func anIssuerThatIntrospectsEveryTokenHasNoKeysToSet() throws {
        #expect(
            try Self.errors(issuer: Self.introspection + "\n    jwks_uri: https://idp.example.com/jwks") == [
                "9:15: issuer 'opaque' introspects every token (token_format opaque), so it has no signing keys to set; use token_format both to verify its JWTs too"
            ])
        #expect(try Self.errors(issuer: Self.introspection + "\n    jwks_uri: https://idp.example.com/jwks\n    token_format: both").isEmpty)
    }

    @Test func theEndpointMustBeHTTPSOrLoopbackAndItsFieldsComplete() throws {
        let plain = Self.introspection.replacingOccurrences(of: "https://idp.example.com/introspect", with: "http://idp.example.com/introspect")
        #expect(try Self.errors(issuer: plain).first?.contains("must use https (plain http is accepted only for localhost)") == true)
        let loopback = Self.introspection.replacingOccurrences(of: "https://idp.example.com/introspect", with: "http://127.0.0.1:9/introspect")
        #expect(try Self.errors(issuer: loopback).isEmpty)
        let noClient = Self.introspection.replacingOccurrences(of: "      client_id: mcp-authz\n", with: "")
        #expect(try Self.errors(issuer: noClient).first?.contains("client_id") == true)
        #expect(try Self.errors(issuer: Self.introspection + "\n      auth: jwt").first?.contains("auth must be basic or post, found 'jwt'") == true)
        #expect(try Self.errors(issuer: Self.introspection + "\n      scope: x").first?.contains("scope") == true)
    }

    @Test func aMissingOrEmptySecretIsRefusedNeverPrinted() throws {
        #expect(try Self.errors(issuer: Self.introspection, secret: "\n") == ["8:27: client_secret_file client.secret is empty"])
        let missing = Self.introspection.replacingOccurrences(of: "client.secret", with: "nowhere.secret")
        let errors = try Self.errors(issuer: missing)
        #expect(errors.count == 1 && errors[0].hasPrefix("8:27: client_secret_file nowhere.secret: "))
        let printed = try Self.errors(issuer: Self.introspection + "\n      auth: nope", secret: "do-not-print-me\n")
        #expect(!printed.joined().contains("do-not-print-me"))
    }

    @Test func aServerAcceptsAtMostOneIntrospectingIssuer() throws {
        let second = Self.introspection.replacingOccurrences(of: "idp.example.com", with: "jwt.example.com")
        let errors = try Self.errors(issuer: Self.introspection, second: second, accepted: "opaque, jwt")
        #expect(
            errors == [
                "19:23: server 'srv' accepts 2 issuers that introspect tokens (opaque, jwt); an opaque token names no issuer, so it could only be sent to all of them: keep one"
            ])
        #expect(try Self.errors(issuer: Self.introspection, accepted: "opaque, jwt").isEmpty)
    }
}
