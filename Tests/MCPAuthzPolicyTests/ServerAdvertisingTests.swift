import Testing

@testable import MCPAuthzPolicy

/// What a server tells clients about itself (MCP 2026-07-28): the scopes it advertises, the
/// origins it admits, its metadata names.
@Suite struct ServerAdvertisingTests {
    static let rules = """
              - name: readers
                when: { scopes: [read:todos, offline_access] }
                allow: { tools: [get_todo] }
              - name: billing
                when: { any_scopes: [read:billing, admin] }
                allow: { tools: [get_billing] }
              - name: trial
                mode: dry_run
                when: { scopes: [trial] }
                allow: { tools: [trial_tool] }
              - name: not these
                when: { not: { scopes: [banned] } }
                deny: { tools: [x] }
        """

    @Test func withoutScopesSupportedTheAllowRulesScopesAreAdvertisedNeverOfflineAccess() throws {
        let server = try #require(try compile(policy(rules: Self.rules)).servers["srv"]).config
        #expect(server.advertisedScopes == ["admin", "read:billing", "read:todos"])
        let listed = try #require(
            try compile(policy(rules: Self.rules, serverExtra: "\n    scopes_supported: [offline_access, read:todos, read:todos]")).servers["srv"]
        ).config
        #expect(listed.advertisedScopes == ["read:todos"])
    }

    @Test func originsAreComparedAsOrigins() throws {
        let server = try #require(
            try compile(policy(rules: Self.rules, serverExtra: "\n    allowed_origins: [\"https://App.example.com:443\", \"http://localhost:3000\"]"))
                .servers["srv"]
        ).config
        #expect(server.allowedOrigins == ["https://app.example.com", "http://localhost:3000"])
        #expect(server.allows(origins: []))
        #expect(server.allows(origins: ["https://app.example.com"]) && server.allows(origins: ["HTTP://LOCALHOST:3000"]))
        for refused in [
            ["https://evil.example"], ["null"], ["https://app.example.com/"], ["http://app.example.com"],
            ["https://app.example.com", "https://app.example.com"],
        ] {
            #expect(!server.allows(origins: refused), "\(refused)")
        }
        let open = try #require(try compile(policy(rules: Self.rules)).servers["srv"]).config
        #expect(open.allows(origins: ["https://anything.example"]), "without allowed_origins the MCP server checks Origin")
    }

    @Test func badOriginsAndMetadataURLsAreRefused() throws {
        let problems = try errors(
            policy(
                rules: Self.rules,
                serverExtra:
                    "\n    allowed_origins: [\"https://app.example.com/path\", \"ftp://x\"]\n    resource_documentation: http://docs.example.com"))
        #expect(problems.count == 3, "\(problems)")
        #expect(problems.contains { $0.contains("allowed origin 'https://app.example.com/path' is not an origin") })
        #expect(problems.contains { $0.contains("resource_documentation") && $0.contains("https") })
    }
}
