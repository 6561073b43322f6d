import Testing

@testable import MCPAuthzPolicy

/// Reading an identity out of verified claims, as each issuer is configured.
@Suite struct IdentityTests {
    func issuer(_ extra: String = "") throws -> IssuerConfig {
        let s = try compile(
            policy(
                rules: """
                          - name: any
                            allow: { methods: [ping] }
                    """, issuerExtra: extra
            )
        )
        return try #require(s.issuers["idp"])
    }

    @Test func scopesComeFromASpaceDelimitedScopeClaim() throws {
        let identity = Identity(claims: ["scope": .string("read  write\tadmin")], issuer: try issuer())
        #expect(identity.scopes == ["read", "write", "admin"])
    }

    @Test func scopesComeFromScpAsArrayOrStringAndFromPermissions() throws {
        let identity = Identity(
            claims: ["scp": .array([.string("a"), .string("b")]), "permissions": .array([.string("c")])],
            issuer: try issuer()
        )
        #expect(identity.scopes == ["a", "b", "c"])
        #expect(Identity(claims: ["scp": .string("x y")], issuer: try issuer()).scopes == ["x", "y"])
    }

    @Test func onlyTheConfiguredScopeClaimsAreRead() throws {
        let identity = Identity(
            claims: ["scope": .string("a"), "permissions": .array([.string("b")])],
            issuer: try issuer("\n    scope_claims: [permissions]")
        )
        #expect(identity.scopes == ["b"])
    }

    @Test func nonStringScopeElementsAreIgnored() throws {
        let identity = Identity(claims: ["scp": .array([.string("a"), .integer(1), .null])], issuer: try issuer())
        #expect(identity.scopes == ["a"])
    }

    @Test func theClientComesFromAzpThenClientID() throws {
        #expect(Identity(claims: ["azp": .string("a"), "client_id": .string("b")], issuer: try issuer()).clientID == "a")
        #expect(Identity(claims: ["client_id": .string("b")], issuer: try issuer()).clientID == "b")
    }

    @Test func groupsComeFromAConfiguredDottedPath() throws {
        let claims: [String: ClaimValue] = ["realm_access": .object(["roles": .array([.string("admin"), .string("dev")])])]
        let identity = Identity(claims: claims, issuer: try issuer("\n    groups_claim: realm_access.roles"))
        #expect(identity.groups == ["admin", "dev"])
    }

    @Test func theEmailComesFromTheConfiguredClaimWithItsDomainLowerCased() throws {
        let identity = Identity(claims: ["upn": .string("Ann@Contoso.COM")], issuer: try issuer("\n    email_claim: upn"))
        #expect(identity.email == "Ann@contoso.com")
        #expect(identity.emailDomain == "contoso.com")
    }

    @Test func anEmailThatIsNotAnAddressIsIgnored() throws {
        #expect(Identity(claims: ["email": .string("not-an-address")], issuer: try issuer()).email == nil)
        #expect(Identity(claims: ["email": .integer(5)], issuer: try issuer()).email == nil)
    }

    @Test func emailVerifiedMayBeABooleanOrTheStringTrue() throws {
        let required = try issuer("\n    require_email_verified: true")
        #expect(Identity(claims: ["email": .string("a@b.c"), "email_verified": .bool(true)], issuer: required).usableEmail == "a@b.c")
        #expect(Identity(claims: ["email": .string("a@b.c"), "email_verified": .string("true")], issuer: required).usableEmail == "a@b.c")
        #expect(Identity(claims: ["email": .string("a@b.c"), "email_verified": .string("yes")], issuer: required).usableEmail == nil)
        #expect(Identity(claims: ["email": .string("a@b.c")], issuer: try issuer()).usableEmail == "a@b.c")
    }
}
