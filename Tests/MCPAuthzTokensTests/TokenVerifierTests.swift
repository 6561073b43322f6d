import Foundation
import MCPAuthzPolicy
import MCPAuthzTestSupport
import Testing

@testable import MCPAuthzTokens

/// Tokens minted by PyJWT, verified by mcp-authz: each case gives exactly one outcome.
@Suite struct TokenVerifierTests {
    let minted: MintedTokenSet
    let keys: IssuerKeys

    init() async throws {
        minted = try MintedTokenSet.load()
        keys = try await IssuerKeys.load(jwks: minted.jwks, algorithms: ["RS256", "PS256", "ES256", "EdDSA"])
    }

    func verify(
        _ name: String, issuerExtra: String = "", accepted: String = "idp", keys override: IssuerKeys? = nil, now: Double? = nil
    ) throws -> Result<VerifiedToken, TokenFailure> {
        let snapshot = try minted.snapshot(issuerExtra: issuerExtra, accepted: accepted)
        let server = try #require(snapshot.servers["srv"]).config
        let keys = override ?? self.keys
        let token = try minted.token(name)
        return Result { () throws(TokenFailure) in
            try TokenVerifier().verify(token, for: server, in: snapshot, keys: { $0 == "idp" ? keys : nil }, now: now ?? minted.now)
        }
    }

    func reason(_ name: String, issuerExtra: String = "", accepted: String = "idp", now: Double? = nil) throws -> String {
        switch try verify(name, issuerExtra: issuerExtra, accepted: accepted, now: now) {
        case .success: return "accepted"
        case let .failure(failure): return failure.reason.rawValue
        }
    }

    @Test(arguments: ["valid_rs256", "valid_ps256", "valid_es256", "valid_eddsa", "aud_array_with_audience", "expired_within_leeway"])
    func validTokensAreAccepted(name: String) throws {
        let verified = try verify(name).get()
        #expect(verified.issuerID == "idp")
        #expect(verified.identity.subject == "user-1")
        #expect(verified.identity.scopes == ["read:todos", "write:todos"])
    }

    @Test(arguments: [
        ("aud_wrong", "audience_mismatch"),
        ("aud_missing", "audience_mismatch"),
        ("iss_wrong", "issuer_untrusted"),
        ("iss_missing", "claims_invalid"),
        ("expired", "token_expired"),
        ("exp_missing", "claims_invalid"),
        ("exp_string", "claims_invalid"),
        ("exp_huge", "claims_invalid"),
        ("exp_negative", "claims_invalid"),
        ("nbf_huge", "claims_invalid"),
        ("nbf_future", "token_not_yet_valid"),
        ("iat_future", "token_not_yet_valid"),
        ("unknown_kid", "unknown_kid"),
        ("unknown_kid_signed_by_known_key", "unknown_kid"),
        ("known_kid_other_key", "signature_invalid"),
        ("weak_key_kid", "unknown_kid"),
        ("enc_key_kid", "unknown_kid"),
        ("alg_not_allowed_rs384", "algorithm_not_allowed"),
        ("es256_claiming_rsa_kid", "algorithm_not_allowed"),
        ("alg_none", "algorithm_not_allowed"),
        ("alg_none_upper", "algorithm_not_allowed"),
        ("hs256_with_rsa_public_key", "algorithm_not_allowed"),
        ("signature_stripped", "signature_invalid"),
        ("crit_unknown", "token_malformed"),
        ("duplicated_claims", "token_malformed"),
        ("no_kid", "kid_missing"),
    ])
    func badTokensAreRejectedWithTheirReason(name: String, reason: String) throws {
        #expect(try self.reason(name) == reason)
    }

    @Test func aJKUHeaderIsIgnoredAndTheConfiguredKeysDecide() throws {
        #expect(try reason("jku_elsewhere") == "accepted")
    }

    @Test func leewayIsTheIssuers() throws {
        #expect(try reason("expired_within_leeway", issuerExtra: "\n    leeway_seconds: 0") == "token_expired")
        #expect(try reason("expired", issuerExtra: "\n    leeway_seconds: 600") == "token_expired")
    }

    @Test func aTokenFromAnIssuerTheServerDoesNotAcceptIsRejectedBeforeItsSignatureIsChecked() throws {
        #expect(try reason("valid_rs256", accepted: "other") == "issuer_untrusted")
    }

    @Test func tokenTypesAreCheckedWhenTheIssuerRequiresThem() throws {
        let atJWT = "\n    token_types: [at+jwt]"
        #expect(try reason("valid_at_jwt", issuerExtra: atJWT) == "accepted")
        #expect(try reason("valid_application_at_jwt", issuerExtra: atJWT) == "accepted")
        #expect(try reason("typ_jwt", issuerExtra: atJWT) == "token_type_not_allowed")
        #expect(try reason("valid_rs256", issuerExtra: atJWT) == "token_type_not_allowed")
        #expect(try reason("typ_jwt") == "accepted", "no typ check unless configured")
    }

    @Test func withoutKeysTheIssuerIsUnavailable() throws {
        let empty = IssuerKeys(verifiers: [:], skipped: [])
        guard case let .failure(failure) = try verify("valid_rs256", keys: empty) else {
            Issue.record("expected a failure")
            return
        }
        #expect(failure.reason == .jwksUnavailable)
    }

    @Test func aTokenWithoutKidIsAcceptedOnlyFromAnIssuerWithOneKey() async throws {
        let single = try await IssuerKeys.load(jwks: minted.jwks, algorithms: ["RS256"])
        #expect(single.kids == ["rsa-1"])
        #expect(try verify("no_kid", keys: single).get().kid == nil)
    }

    @Test func theIdentityIsReadAsTheIssuerIsConfigured() throws {
        let identity = try verify("identity_claims", issuerExtra: "\n    require_email_verified: true").get().identity
        #expect(identity.email == "Bob@example.com")
        #expect(identity.usableEmail == "Bob@example.com")
        #expect(identity.clientID == "cli-app")
        #expect(identity.groups == ["admins", "devs"])
        #expect(identity.scopes == ["read:todos", "write:todos", "read:billing", "write:billing"])
    }

    @Test func oversizedAndMalformedTokensAreRejected() throws {
        let snapshot = try minted.snapshot()
        let server = try #require(snapshot.servers["srv"]).config
        func reason(_ token: String) -> String {
            do {
                _ = try TokenVerifier().verify(token, for: server, in: snapshot, keys: { _ in keys }, now: minted.now)
                return "accepted"
            } catch {
                return error.reason.rawValue
            }
        }
        #expect(reason(String(repeating: "a", count: 20_000)) == "token_too_large")
        #expect(reason("abc") == "token_malformed")
        #expect(reason("a.b") == "token_malformed")
        #expect(reason("a.b.c.d") == "token_malformed")
        #expect(reason("eyJ+.e30.") == "token_malformed", "standard base64 alphabet")
        #expect(reason("eyJhbGciOiJSUzI1NiJ9=.e30.") == "token_malformed", "padding")
        #expect(reason("bm90IGpzb24.e30.") == "token_malformed", "header not JSON")
        #expect(reason("W10.e30.") == "token_malformed", "header a JSON array")
    }
}

/// Reading JWKS documents: unusable keys are skipped, never fatal.
@Suite struct IssuerKeysTests {
    @Test func unusableKeysAreSkippedWithAReason() async throws {
        let minted = try MintedTokenSet.load()
        let keys = try await IssuerKeys.load(jwks: minted.jwks, algorithms: ["RS256", "PS256", "ES256", "EdDSA"])
        #expect(keys.kids == ["ec-1", "ed-1", "rsa-1"])
        #expect(keys.skipped.contains { $0.hasPrefix("key 'rsa-weak': RSA key of 1024 bits") })
        #expect(keys.skipped.contains("key 'rsa-enc': use 'enc' is not for signatures"))
        #expect(keys.skipped.contains { $0.hasPrefix("key 'hmac-1': kty oct fits none") })
    }

    @Test func aDocumentThatIsNotAJWKSFails() async {
        await #expect(throws: JWKSDocumentError.self) { try await IssuerKeys.load(jwks: Data("<html>".utf8), algorithms: ["RS256"]) }
        await #expect(throws: JWKSDocumentError.self) { try await IssuerKeys.load(jwks: Data(#"{"keys": 5}"#.utf8), algorithms: ["RS256"]) }
    }

    @Test func aPrivateKeyInTheDocumentIsRefused() async throws {
        let jwks = #"{"keys":[{"kty":"EC","crv":"P-256","kid":"k","x":"AAAA","y":"AAAA","d":"AAAA"}]}"#
        let keys = try await IssuerKeys.load(jwks: Data(jwks.utf8), algorithms: ["ES256"])
        #expect(keys.isEmpty)
        #expect(keys.skipped == ["key 'k': contains a private key, refused"])
    }
}

/// JWKS documents shaped as real providers publish them parse, and their keys verify.
@Suite struct ProviderJWKSTests {
    @Test(arguments: [
        ("auth0", ["auth0-1", "auth0-2"]),
        ("google", ["google-1", "google-2"]),
        ("entra", ["entra-1", "entra-2"]),
        ("keycloak", ["keycloak-1", "keycloak-ec"]),
        ("cloudflare", ["cf-1", "cf-2"]),
    ])
    func providerDocumentsParseAndVerify(provider: String, kids: [String]) async throws {
        let minted = try MintedTokenSet.load()
        let document = try #require(minted.providerJWKS[provider])
        let keys = try await IssuerKeys.load(jwks: document, algorithms: ["RS256", "ES256"])
        #expect(keys.kids == kids)
        let snapshot = try minted.snapshot()
        let server = try #require(snapshot.servers["srv"]).config
        let verified = try TokenVerifier().verify(
            try minted.token("shape_\(provider)"), for: server, in: snapshot, keys: { _ in keys }, now: minted.now
        )
        #expect(verified.kid == kids.first)
    }

    @Test func keycloaksEncryptionKeyIsSkippedWithAReason() async throws {
        let minted = try MintedTokenSet.load()
        let keys = try await IssuerKeys.load(jwks: try #require(minted.providerJWKS["keycloak"]), algorithms: ["RS256", "ES256"])
        #expect(keys.skipped == ["key 'keycloak-enc': use 'enc' is not for signatures"])
    }
}
