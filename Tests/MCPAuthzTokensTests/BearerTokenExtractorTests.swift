import MCPAuthzPolicy
import MCPAuthzTestSupport
import Testing

@testable import MCPAuthzTokens

@Suite struct BearerTokenExtractorTests {
    let snapshot: PolicySnapshot
    let server: ServerConfig

    init() throws {
        let minted = try MintedTokenSet.load()
        snapshot = try minted.snapshot(issuerExtra: "\n    token_header: Cf-Access-Jwt-Assertion")
        server = try #require(snapshot.servers["srv"]).config
    }

    func extract(_ headers: [(String, String)]) -> String {
        do {
            return try BearerTokenExtractor.token(for: server, in: snapshot) { name in
                headers.filter { $0.0.lowercased() == name.lowercased() }.map(\.1)
            }
        } catch {
            return error.reason.rawValue
        }
    }

    @Test func theAuthorizationBearerCredentialIsTheToken() {
        #expect(extract([("Authorization", "Bearer a.b.c")]) == "a.b.c")
        #expect(extract([("authorization", "bearer a.b.c")]) == "a.b.c", "scheme and header name are case-insensitive")
        #expect(extract([("Authorization", "BeArEr a.b.c")]) == "a.b.c")
    }

    @Test func theIssuersTokenHeaderIsReadWhenThereIsNoAuthorization() {
        #expect(extract([("cf-access-jwt-assertion", "x.y.z")]) == "x.y.z")
    }

    @Test func noTokenIsTokenMissing() {
        #expect(extract([]) == "token_missing")
        #expect(extract([("Authorization", "Basic dXNlcjpwYXNz")]) == "token_missing")
        #expect(extract([("Authorization", "Bearer ")]) == "token_missing")
        #expect(extract([("Authorization", "Bearer\ta.b.c")]) == "token_missing", "one space, nothing else, ends the scheme")
        #expect(extract([("Authorization", "Bearer\u{0}a.b.c")]) == "token_missing")
        #expect(extract([("Authorization", "Bearers a.b.c")]) == "token_missing")
        #expect(extract([("Authorization", "Bea rer a.b.c")]) == "token_missing")
    }

    @Test func ambiguousOrImpossibleTokensAreMalformed() {
        #expect(extract([("Authorization", "Bearer a.b.c"), ("Authorization", "Bearer d.e.f")]) == "token_malformed")
        #expect(extract([("Authorization", "Bearer a.b.c\r\nX-Evil: 1")]) == "token_malformed")
        #expect(extract([("Authorization", "Bearer  a.b.c")]) == "token_malformed")
    }

    @Test func everyB64tokenCharacterIsAcceptedAndNothingElse() {
        #expect(extract([("Authorization", "Bearer aZ09-._~+/==")]) == "aZ09-._~+/==", "opaque tokens use the whole RFC 6750 b64token")
        for bad in ["a=b", "=", "a b", "a\"b", "a,b", "a;b", "a%20", "a\u{7F}", "ä"] {
            #expect(extract([("Authorization", "Bearer \(bad)")]) == "token_malformed", "\(bad)")
        }
    }

    @Test func theDPoPSchemeCarriesTheTokenAndItsProofs() throws {
        let presented = try BearerTokenExtractor.presented(for: server, in: snapshot) { name in
            ["authorization": ["dPoP a.b.c"], "dpop": ["p.r.f"]][name.lowercased()] ?? []
        }
        #expect(presented.token == "a.b.c" && presented.scheme == .dpop && presented.proofs == ["p.r.f"])
        #expect(extract([("Authorization", "DPoP a.b.c")]) == "a.b.c")
        #expect(extract([("Authorization", "DPoPs a.b.c")]) == "token_missing")
        let bearer = try BearerTokenExtractor.presented(for: server, in: snapshot) { name in
            name.lowercased() == "authorization" ? ["Bearer a.b.c"] : []
        }
        #expect(bearer.scheme == .bearer && bearer.proofs.isEmpty)
    }
}
