import Foundation
import Testing

@testable import MCPAuthzPolicy

/// Each `when:` condition, alone, decides whether its rule applies.
@Suite struct ConditionTests {
    func snapshot(when condition: String) throws -> PolicySnapshot {
        try compile(
            policy(
                rules: """
                          - name: guarded
                            when: \(condition)
                            allow: { tools: [t] }
                    """,
                issuerExtra: "\n  - id: other\n    issuer: https://other.example.com/",
            ).replacingOccurrences(of: "issuers: [idp]", with: "issuers: [idp, other]")
        )
    }

    @Test func issuersMatchAnyListedIssuer() throws {
        let s = try snapshot(when: "{ issuers: [other] }")
        #expect(s.decide(.caller(issuer: "other"), "tools/call", "t").isAllowed)
        #expect(!s.decide(.caller(issuer: "idp"), "tools/call", "t").isAllowed)
    }

    @Test func scopesRequireEveryListedScope() throws {
        let s = try snapshot(when: "{ scopes: [a, b] }")
        #expect(s.decide(.caller(scopes: ["a", "b", "c"]), "tools/call", "t").isAllowed)
        #expect(!s.decide(.caller(scopes: ["a"]), "tools/call", "t").isAllowed)
    }

    @Test func anyScopesRequireOneListedScope() throws {
        let s = try snapshot(when: "{ any_scopes: [a, b] }")
        #expect(s.decide(.caller(scopes: ["b"]), "tools/call", "t").isAllowed)
        #expect(!s.decide(.caller(scopes: ["c"]), "tools/call", "t").isAllowed)
    }

    @Test func emailsCompareTheDomainCaseInsensitivelyAndTheLocalPartExactly() throws {
        let s = try snapshot(when: "{ emails: [Alice@Example.com] }")
        #expect(s.decide(.caller(email: "Alice@example.COM"), "tools/call", "t").isAllowed)
        #expect(!s.decide(.caller(email: "alice@example.com"), "tools/call", "t").isAllowed)
        #expect(!s.decide(.caller(email: nil), "tools/call", "t").isAllowed)
    }

    @Test func emailDomainsMatchTheDomainCaseInsensitively() throws {
        let s = try snapshot(when: "{ email_domains: [Example.com] }")
        #expect(s.decide(.caller(email: "bob@EXAMPLE.com"), "tools/call", "t").isAllowed)
        #expect(!s.decide(.caller(email: "bob@sub.example.com"), "tools/call", "t").isAllowed)
        #expect(!s.decide(.caller(email: "bob@example.com.evil.test"), "tools/call", "t").isAllowed)
    }

    @Test func unicodeLookAlikesDoNotFoldIntoAnAllowedDomain() throws {
        let s = try snapshot(when: "{ email_domains: [known.com] }")
        // U+212A KELVIN SIGN lower-cases to an ASCII "k" under full Unicode rules.
        #expect(!s.decide(.caller(email: "eve@\u{212A}nown.com"), "tools/call", "t").isAllowed)
        #expect(!s.decide(.caller(email: "eve@knоwn.com"), "tools/call", "t").isAllowed, "Cyrillic o")
        #expect(s.decide(.caller(email: "eve@KNOWN.com"), "tools/call", "t").isAllowed)
    }

    @Test func subjectsMatchAnyListedSubject() throws {
        let s = try snapshot(when: "{ subjects: [u1, u2] }")
        #expect(s.decide(.caller(subject: "u2"), "tools/call", "t").isAllowed)
        #expect(!s.decide(.caller(subject: "U2"), "tools/call", "t").isAllowed)
    }

    @Test func clientsMatchAnyListedClient() throws {
        let s = try snapshot(when: "{ clients: [bot] }")
        #expect(s.decide(.caller(client: "bot"), "tools/call", "t").isAllowed)
        #expect(!s.decide(.caller(client: nil), "tools/call", "t").isAllowed)
    }

    @Test func groupsRequireMembershipInAnyListedGroup() throws {
        let s = try snapshot(when: "{ groups: [admins, sre] }")
        #expect(s.decide(.caller(groups: ["dev", "sre"]), "tools/call", "t").isAllowed)
        #expect(!s.decide(.caller(groups: ["dev"]), "tools/call", "t").isAllowed)
    }

    @Test func claimsMatchAValueOrAnyOfAList() throws {
        let s = try snapshot(when: #"{ claims: { tier: [gold, platinum], "org.id": 42 } }"#)
        let gold: [String: ClaimValue] = ["tier": .string("gold"), "org": .object(["id": .integer(42)])]
        #expect(s.decide(.caller(claims: gold), "tools/call", "t").isAllowed)
        var silver = gold
        silver["tier"] = .string("silver")
        #expect(!s.decide(.caller(claims: silver), "tools/call", "t").isAllowed)
        var stringID = gold
        stringID["org"] = .object(["id": .string("42")])
        #expect(!s.decide(.caller(claims: stringID), "tools/call", "t").isAllowed, "42 and \"42\" are different JSON values")
    }

    @Test func claimsMatchAnElementOfAnArrayClaim() throws {
        let s = try snapshot(when: "{ claims: { roles: editor } }")
        #expect(s.decide(.caller(claims: ["roles": .array([.string("viewer"), .string("editor")])]), "tools/call", "t").isAllowed)
        #expect(!s.decide(.caller(claims: ["roles": .array([.string("viewer")])]), "tools/call", "t").isAllowed)
    }

    @Test func claimsPreferALiteralNamespacedKeyOverADottedPath() throws {
        let s = try snapshot(when: #"{ claims: { "https://example.com/tier": gold } }"#)
        #expect(s.decide(.caller(claims: ["https://example.com/tier": .string("gold")]), "tools/call", "t").isAllowed)
    }

    @Test func notHoldsWhenTheNestedConditionFails() throws {
        let s = try snapshot(when: "{ scopes: [a], not: { groups: [banned] } }")
        #expect(s.decide(.caller(scopes: ["a"], groups: ["ok"]), "tools/call", "t").isAllowed)
        #expect(!s.decide(.caller(scopes: ["a"], groups: ["banned"]), "tools/call", "t").isAllowed)
    }

    @Test func notNegatesTheWholeNestedCondition() throws {
        // not (A and B): fails only when both hold.
        let s = try snapshot(when: "{ not: { groups: [g], scopes: [s] } }")
        #expect(s.decide(.caller(scopes: ["s"]), "tools/call", "t").isAllowed)
        #expect(s.decide(.caller(groups: ["g"]), "tools/call", "t").isAllowed)
        #expect(!s.decide(.caller(scopes: ["s"], groups: ["g"]), "tools/call", "t").isAllowed)
    }

    @Test func everyConditionMustHold() throws {
        let s = try snapshot(when: "{ scopes: [a], email_domains: [example.com] }")
        #expect(s.decide(.caller(email: "x@example.com", scopes: ["a"]), "tools/call", "t").isAllowed)
        #expect(!s.decide(.caller(email: "x@example.com"), "tools/call", "t").isAllowed)
        #expect(!s.decide(.caller(email: "x@other.com", scopes: ["a"]), "tools/call", "t").isAllowed)
    }

    @Test func anUnverifiedEmailIsNotUsedWhenTheIssuerRequiresVerification() throws {
        let s = try compile(
            policy(
                rules: """
                          - name: by email
                            when: { emails: [a@example.com] }
                            allow: { tools: [t] }
                    """, issuerExtra: "\n    require_email_verified: true"
            )
        )
        let issuer = try #require(s.issuers["idp"])
        func identity(_ verified: ClaimValue?) -> Identity {
            var claims: [String: ClaimValue] = ["sub": .string("u"), "email": .string("a@example.com")]
            claims["email_verified"] = verified
            return Identity(claims: claims, issuer: issuer)
        }
        #expect(s.decide(identity(.bool(true)), "tools/call", "t").isAllowed)
        #expect(!s.decide(identity(.bool(false)), "tools/call", "t").isAllowed)
        #expect(!s.decide(identity(nil), "tools/call", "t").isAllowed)
    }
}
