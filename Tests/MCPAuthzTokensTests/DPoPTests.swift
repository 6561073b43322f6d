import Crypto
import Foundation
import MCPAuthzPolicy
import MCPAuthzTestSupport
import Testing

@testable import MCPAuthzTokens

/// DPoP proofs (RFC 9449): the RFC's own example, URL comparison, the issuer's modes and the
/// replay cache's bound. Proofs from an independent library are in scripts/check-dpop.py.
@Suite struct DPoPTests {
    /// RFC 9449 §4.1, the example proof (its key's thumbprint is the `jkt` of the RFC's later examples).
    static let rfcProof =
        "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19"
        + ".eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ"
        + ".2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg"
    static let rfcThumbprint = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"

    /// An issuer as a policy reads it.
    static let issuer = Result { try MintedTokenSet.load().snapshot().issuers["idp"]! }

    static func token(jkt: String?) throws -> VerifiedToken {
        let issuer = try Self.issuer.get()
        var claims: [String: ClaimValue] = ["sub": .string("alice")]
        if let jkt { claims["cnf"] = .object(["jkt": .string(jkt)]) }
        return VerifiedToken(identity: Identity(claims: claims, issuer: issuer), issuerID: "idp", kid: nil, expiresAt: .infinity)
    }

    /// A proof made with a P-256 key, for the logic around the signature.
    static func proof(_ key: P256.Signing.PrivateKey, token: String, jti: String, iat: Double, url: String = "https://mcp.example/mcp")
        throws -> String
    {
        let raw = key.publicKey.rawRepresentation
        let jwk =
            "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"\(Base64URL.encode(Array(raw.prefix(32))))\",\"y\":\"\(Base64URL.encode(Array(raw.suffix(32))))\"}"
        let header = "{\"typ\":\"dpop+jwt\",\"alg\":\"ES256\",\"jwk\":\(jwk)}"
        let ath = Base64URL.encode(Array(SHA256.hash(data: Array(token.utf8))))
        let claims = "{\"jti\":\"\(jti)\",\"htm\":\"POST\",\"htu\":\"\(url)\",\"iat\":\(Int(iat)),\"ath\":\"\(ath)\"}"
        let input = Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(Array(claims.utf8))
        let signature = try key.signature(for: Array(input.utf8)).rawRepresentation
        return input + "." + Base64URL.encode(Array(signature))
    }

    static func thumbprint(_ key: P256.Signing.PrivateKey) throws -> String {
        let raw = key.publicKey.rawRepresentation
        return try DPoPProof.thumbprint([
            "kty": .string("EC"), "crv": .string("P-256"), "x": .string(Base64URL.encode(Array(raw.prefix(32)))),
            "y": .string(Base64URL.encode(Array(raw.suffix(32)))),
        ])
    }

    static func reason(_ check: () throws(TokenFailure) -> Void) -> String {
        do {
            try check()
            return "accepted"
        } catch {
            return error.reason.rawValue
        }
    }

    @Test func theRFCsExampleProofVerifiesAndItsThumbprintIsTheRFCs() throws {
        let proof = try DPoPProof(Self.rfcProof, maxBytes: 8192)
        #expect(proof.thumbprint == Self.rfcThumbprint)
        #expect(proof.jti == "-BwC3ESc6acc2lTc" && proof.htm == "POST" && proof.htu == "https://server.example.com/token")
        #expect(proof.iat == 1_562_262_616 && proof.ath == nil)
        var tampered = Self.rfcProof
        tampered.removeLast()
        tampered += Self.rfcProof.hasSuffix("g") ? "A" : "g"
        #expect(throws: DPoPProof.Problem.self) { try DPoPProof(tampered, maxBytes: 8192) }
        #expect(throws: DPoPProof.Problem.self) { try DPoPProof(Self.rfcProof, maxBytes: 100) }
    }

    @Test func theRFCsProofIsRefusedForAResourceRequestWithoutAth() throws {
        let verifier = DPoPVerifier()
        let token = try Self.token(jkt: Self.rfcThumbprint)
        let presented = PresentedToken(
            token: "t", scheme: .dpop, proofs: [Self.rfcProof], request: DPoPRequest(method: "POST", url: "https://server.example.com/token")
        )
        let reason = Self.reason { () throws(TokenFailure) in
            try verifier.check(presented, token: token, mode: .allowed, leeway: 60, now: 1_562_262_620)
        }
        #expect(reason == "dpop_ath_mismatch")
    }

    @Test func urlsCompareAsRFC9449Says() {
        #expect(DPoPVerifier.normalized("HTTPS://Mcp.Example.COM:443/mcp?x=1#f") == "https://mcp.example.com/mcp")
        #expect(DPoPVerifier.normalized("http://mcp.example.com:80") == "http://mcp.example.com/")
        #expect(DPoPVerifier.normalized("https://mcp.example.com:8443/mcp") == "https://mcp.example.com:8443/mcp")
        #expect(DPoPVerifier.normalized("https://mcp.example.com/MCP") != DPoPVerifier.normalized("https://mcp.example.com/mcp"))
        #expect(DPoPVerifier.normalized("https://user@mcp.example.com/mcp") == nil)
        #expect(DPoPVerifier.normalized("ftp://mcp.example.com/mcp") == nil && DPoPVerifier.normalized("/mcp") == nil)
        // The authority as an Origin's (`WebOrigin`): ended by a query too, nothing odd in it.
        #expect(DPoPVerifier.normalized("https://mcp.example.com?x=/y") == "https://mcp.example.com/")
        for odd in ["https:///mcp", "https://mcp.example.com\\@evil.example/mcp", "https://mcp example.com/mcp", "https:/mcp.example.com/mcp"] {
            #expect(DPoPVerifier.normalized(odd) == nil, "\(odd)")
        }
        #expect(DPoPRequest.url(scheme: "HTTPS", host: "mcp.example.com", uri: "/mcp?session=1") == "https://mcp.example.com/mcp")
        #expect(DPoPRequest.url(scheme: nil, host: "mcp.example.com", uri: "/mcp") == nil)
        #expect(DPoPRequest.url(scheme: "gopher", host: "mcp.example.com", uri: "/mcp") == nil)
    }

    @Test func theIssuersModeDecidesWhatAnUnboundTokenMayDo() throws {
        let verifier = DPoPVerifier()
        let unbound = try Self.token(jkt: nil)
        let bound = try Self.token(jkt: "abc")
        let bearer = PresentedToken(token: "t")
        func reason(_ presented: PresentedToken, _ token: VerifiedToken, _ mode: DPoPMode) -> String {
            Self.reason { () throws(TokenFailure) in try verifier.check(presented, token: token, mode: mode, leeway: 60, now: 1000) }
        }
        #expect(reason(bearer, unbound, .allowed) == "accepted")
        #expect(reason(bearer, unbound, .off) == "accepted")
        #expect(reason(bearer, unbound, .required) == "dpop_key_mismatch")
        #expect(reason(bearer, bound, .allowed) == "dpop_proof_missing")
        #expect(reason(bearer, bound, .off) == "accepted")
        #expect(reason(PresentedToken(token: "t", scheme: .dpop), bound, .off) == "dpop_proof_invalid")
        #expect(reason(PresentedToken(token: "t", scheme: .dpop), bound, .allowed) == "dpop_proof_missing")
    }

    @Test func replaysAreRefusedAndTheCacheIsBoundedWithoutForgettingEarly() throws {
        var settings = DPoPSettings()
        settings.replayCapacity = 2
        settings.maxAge = .seconds(60)
        let verifier = DPoPVerifier(settings: settings)
        let key = P256.Signing.PrivateKey()
        let token = try Self.token(jkt: try Self.thumbprint(key))
        func check(_ jti: String, now: Double) throws -> String {
            let presented = PresentedToken(
                token: "t", scheme: .dpop, proofs: [try Self.proof(key, token: "t", jti: jti, iat: now)],
                request: DPoPRequest(method: "POST", url: "https://mcp.example/mcp")
            )
            return Self.reason { () throws(TokenFailure) in try verifier.check(presented, token: token, mode: .allowed, leeway: 5, now: now) }
        }
        #expect(try check("a", now: 1000) == "accepted")
        #expect(try check("a", now: 1001) == "dpop_proof_replayed")
        #expect(try check("b", now: 1002) == "accepted")
        #expect(try check("c", now: 1003) == "dpop_replay_cache_full", "full: refused, never an id forgotten early")
        // Once the first proofs could no longer be accepted anyway, their ids make room.
        #expect(try check("c", now: 1070) == "accepted")
        #expect(try check("c", now: 1071) == "dpop_proof_replayed")
    }
}
