import Foundation
import Testing

@testable import MCPAuthzPolicy

/// Every kind of policy problem is reported at the exact line and column that needs fixing.
@Suite struct ValidationTests {
    /// Rules of the `policy(rules:)` helper start at line 11; column 9 is a rule's first key.
    @Test func unknownKeysAreReportedWithASuggestion() throws {
        let problems = try errors(
            policy(
                rules: """
                          - name: r
                            wehn: { scopes: [a] }
                            allow: { tools: [t] }
                    """
            )
        )
        #expect(problems == ["policy.yaml:12:9: unknown key 'wehn' in a rule (did you mean 'when'?)"])
    }

    @Test func wrongTypesAreReported() throws {
        let problems = try errors(
            policy(
                rules: """
                          - name: r
                            when: { scopes: read }
                            allow: { tools: [t] }
                    """
            )
        )
        #expect(problems == ["policy.yaml:12:25: scopes must be a list, found the string 'read'"])
    }

    @Test func anEmptyListIsReportedBecauseItWouldMatchNothing() throws {
        let problems = try errors(
            policy(
                rules: """
                          - name: r
                            allow: { tools: [] }
                    """
            )
        )
        #expect(problems == ["policy.yaml:12:25: tools is an empty list, which matches nothing; remove it or list values"])
    }

    @Test func anEmptyAllowIsReported() throws {
        let problems = try errors(
            policy(
                rules: """
                          - name: r
                            allow: {}
                    """
            )
        )
        #expect(problems == ["policy.yaml:12:16: allow names nothing; list methods, tools, prompts or resources"])
    }

    @Test func aRuleNeedsExactlyOneOfAllowAndDeny() throws {
        let problems = try errors(
            policy(
                rules: """
                          - name: both
                            allow: { tools: [t] }
                            deny: { tools: [t] }
                          - name: neither
                            when: { scopes: [a] }
                    """
            )
        )
        #expect(
            problems == [
                "policy.yaml:11:9: rule 'both' has both allow and deny; split it into two rules",
                "policy.yaml:14:9: rule 'neither' has neither allow nor deny",
            ]
        )
    }

    @Test func duplicateRuleNamesInAServerAreReported() throws {
        let problems = try errors(
            policy(
                rules: """
                          - name: same
                            allow: { tools: [a] }
                          - name: same
                            allow: { tools: [b] }
                    """
            )
        )
        #expect(problems == ["policy.yaml:13:15: rule name 'same' is already used in server 'srv' at policy.yaml:11:15"])
    }

    @Test func badPatternsAreReported() throws {
        let problems = try errors(
            policy(
                rules: """
                          - name: r
                            allow: { tools: ["a**", "ok", "b "] }
                    """
            )
        )
        #expect(
            problems == [
                "policy.yaml:12:26: bad pattern 'a**' in tools: '**' is the same as '*'; write a single '*'",
                "policy.yaml:12:39: bad pattern 'b ' in tools: starts or ends with white space, which no name has",
            ]
        )
    }

    @Test func anUndefinedIssuerIsReportedWhereItIsNamed() throws {
        let yaml = policy(
            rules: """
                      - name: r
                        when: { issuers: [ipd] }
                        allow: { tools: [t] }
                """
        ).replacingOccurrences(of: "issuers: [idp]", with: "issuers: [idp, auth0]")
        let problems = try errors(yaml)
        #expect(
            problems == [
                "policy.yaml:9:20: server 'srv' names issuer 'auth0', which is not defined",
                "policy.yaml:12:27: rule 'r' names issuer 'ipd', which is not defined (did you mean 'idp'?)",
            ]
        )
    }

    @Test func duplicateIssuersAndServersAreReportedAcrossFiles() throws {
        let first = policy(rules: "      - name: r\n        allow: { tools: [t] }\n")
        let second = """
            version: 1
            issuers:
              - id: idp
                issuer: https://idp.example.com/
            servers:
              - id: srv
                match: { host: other.example.com }
                resource: https://other.example.com/mcp
                issuers: [idp]
                rules:
                  - name: r
                    allow: { tools: [t] }
            """
        let fixture = try PolicyFixture(["a.yaml": first, "b.yaml": second])
        defer { fixture.remove() }
        #expect(
            fixture.errors() == [
                "b.yaml:3:9: issuer id 'idp' is already defined at a.yaml:3:9",
                "b.yaml:4:13: issuer 'https://idp.example.com/' is already configured as 'idp'; a token's iss must name one issuer",
                "b.yaml:6:9: server id 'srv' is already defined at a.yaml:6:9",
            ]
        )
    }

    @Test func serversMatchingTheSameRequestsAreReported() throws {
        let yaml = """
            version: 1
            issuers:
              - id: idp
                issuer: https://idp.example.com/
            servers:
              - id: one
                match: { host: mcp.example.com, path_prefix: /mcp }
                resource: https://mcp.example.com/mcp
                issuers: [idp]
                rules: [{ name: r, allow: { methods: [ping] } }]
              - id: two
                match: { host: MCP.example.com, path_prefix: /mcp/ }
                resource: https://mcp.example.com/mcp
                issuers: [idp]
                rules: [{ name: r, allow: { methods: [ping] } }]
            """
        #expect(
            try errors(yaml) == [
                "policy.yaml:12:12: server 'two' matches the same requests as server 'one' (policy.yaml:7:12); give one a different host or path_prefix"
            ]
        )
    }

    @Test(arguments: [
        ("{ scopes: [a, b], not: { scopes: [a] } }", "it requires scopes a and also requires not having them"),
        ("{ groups: [admins], not: { groups: [admins, ops] } }", "every value its groups accepts is excluded by its not"),
        ("{ any_scopes: [a], not: { any_scopes: [a, b] } }", "any scope that satisfies any_scopes is also excluded by its not"),
        ("{ emails: [a@x.com], email_domains: [y.com] }", "none of its emails is in its email_domains"),
    ])
    func rulesThatCanNeverMatchAreReported(condition: String, reason: String) throws {
        let problems = try errors(
            policy(
                rules: """
                          - name: r
                            when: \(condition)
                            allow: { tools: [t] }
                    """
            )
        )
        #expect(problems == ["policy.yaml:12:15: rule 'r' can never match: \(reason)"])
    }

    @Test func aNotThatExcludesOnlySomeCallersIsFine() throws {
        let snapshot = try compile(
            policy(
                rules: """
                          - name: r
                            when: { groups: [staff, admins], not: { groups: [admins], scopes: [x] } }
                            allow: { tools: [t] }
                    """
            )
        )
        #expect(snapshot.decide(.caller(groups: ["admins"]), "tools/call", "t").isAllowed)
    }

    @Test func aRuleForAnIssuerTheServerDoesNotAcceptCanNeverMatch() throws {
        let yaml = policy(
            rules: """
                      - name: r
                        when: { issuers: [other] }
                        allow: { tools: [t] }
                """, issuerExtra: "\n  - id: other\n    issuer: https://other.example.com/"
        )
        #expect(try errors(yaml) == ["policy.yaml:14:27: rule 'r' can never match: server 'srv' does not accept tokens from issuer 'other'"])
    }

    @Test func insecureIssuerSettingsAreRefused() throws {
        let yaml = """
            version: 1
            issuers:
              - id: idp
                issuer: http://idp.example.com/
                algorithms: [RS256, HS256, none, RS257]
                jwks_uri: https://idp.example.com/jwks
                jwks_file: /etc/jwks.json
            """
        #expect(
            try errors(yaml) == [
                "policy.yaml:4:13: issuer 'http://idp.example.com/' must use https (plain http is accepted only for localhost)",
                "policy.yaml:5:25: algorithm 'HS256' is a shared-secret (HMAC) algorithm: only an issuer with secret_file (and no public keys) may use it",
                "policy.yaml:5:32: algorithm 'none' means unsigned tokens and is never accepted",
                "policy.yaml:5:38: unsupported algorithm 'RS257' (did you mean 'RS256'?); supported: RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA",
                "policy.yaml:7:16: issuer 'idp' sets both jwks_uri and jwks_file; keep one",
            ]
        )
    }

    @Test func aServerWithoutAudienceIsAnError() throws {
        let yaml = """
            version: 1
            issuers:
              - id: idp
                issuer: https://idp.example.com/
            servers:
              - id: srv
                match: {}
                issuers: [idp]
                rules: [{ name: r, allow: { methods: [ping] } }]
            """
        #expect(try errors(yaml) == ["policy.yaml:6:5: server 'srv' has neither resource nor audiences; tokens must be bound to it by 'aud'"])
    }

    @Test func missingRequiredKeysAndBadVersionsAreReported() throws {
        let yaml = """
            version: 2
            servers:
              - match: {}
            """
        #expect(
            try errors(yaml) == [
                "policy.yaml:1:10: unsupported policy version 2; this mcp-authz reads version 1",
                "policy.yaml:3:5: a server is missing required key 'id'",
                "policy.yaml:3:5: a server is missing required key 'issuers'",
                "policy.yaml:3:5: a server is missing required key 'rules'",
            ]
        )
    }

    @Test func everyProblemIsReportedAtOnce() throws {
        let problems = try errors(
            policy(
                rules: """
                          - name: r1
                            when: { scope: [a] }
                            allow: { tools: [t] }
                          - name: r2
                            allow: { tool: [t] }
                          - name: r3
                            deny: { methods: ["x**"] }
                    """
            )
        )
        #expect(problems.count == 3)
        #expect(problems.map { $0.split(separator: ":")[1] } == ["12", "15", "17"])
    }

    @Test func unknownMethodsAreWarningsNotErrors() throws {
        let warnings = try loadWarnings(
            policy(
                rules: """
                          - name: r
                            allow: { methods: [tools/cal, "custom/*"] }
                    """
            )
        )
        #expect(warnings == ["policy.yaml:12:28: warning: 'tools/cal' is not an MCP method this version knows (did you mean 'tools/call'?)"])
    }

    /// A host-less server never takes requests for a host another server names, whatever its
    /// prefix: where the prefixes overlap, validation says so.
    @Test func aHostlessServerOverlappingANamedHostIsAWarning() throws {
        let warnings = try loadWarnings(
            serversPolicy([
                ("docs", "{ host: mcp.example.com, path_prefix: /docs }"), ("deep", "{ path_prefix: /docs/deep }"),
                ("apart", "{ path_prefix: /images }"),
            ])
        )
        #expect(
            warnings == [
                "policy.yaml:14:12: warning: server 'deep' (any host, path_prefix /docs/deep) overlaps server 'docs' (host mcp.example.com): requests for mcp.example.com go only to the servers naming that host, never to 'deep'"
            ])
    }

    /// Rules that can never decide, as warnings: an allow an unconditional deny always
    /// overrides, an allow an earlier unconditional allow always takes first; a rule that only
    /// might be covered (a condition, a pattern not provably inside) is not reported.
    @Test func rulesThatCanNeverDecideAreReportedWithTheRuleThatShadowsThem() throws {
        let warnings = try loadWarnings(
            policy(
                rules: """
                          - name: everything
                            allow: { tools: ["*"], methods: [ping] }
                          - name: admins too
                            when: { groups: [admins] }
                            allow: { tools: [reports] }
                          - name: wipe
                            allow: { tools: [delete_all], methods: [tools/list] }
                          - name: maybe
                            when: { groups: [ops] }
                            deny: { tools: [reports] }
                          - name: no deletes
                            deny: { methods: ["tools/list"], tools: ["delete_*"] }
                    """
            )
        )
        #expect(
            warnings == [
                "policy.yaml:13:15: warning: rule 'admins too' never decides: rule 'everything' (policy.yaml:11:15) before it allows "
                    + "everything it allows, for every caller",
                "policy.yaml:16:15: warning: rule 'wipe' can never allow: rule 'no deletes' (policy.yaml:21:15) denies everything it allows, "
                    + "for every caller",
            ]
        )
    }

    @Test func anAllowAfterAnUnconditionalAllowThatCoversItIsAWarning() throws {
        let warnings = try loadWarnings(
            policy(
                rules: """
                          - name: every tool
                            allow: { methods: ["tools/*"] }
                          - name: one tool
                            when: { groups: [x] }
                            allow: { tools: [get] }
                          - name: a prompt
                            allow: { prompts: [p] }
                    """
            )
        )
        #expect(
            warnings == [
                "policy.yaml:13:15: warning: rule 'one tool' never decides: rule 'every tool' (policy.yaml:11:15) "
                    + "before it allows everything it allows, for every caller"
            ])
    }

    @Test func anAllowIndentedUnderWhenIsCalledWhatItIs() throws {
        let errors = try errors(
            policy(
                rules: """
                          - name: r
                            when:
                              scopes: [read]
                              allow: { tools: [t] }
                    """
            )
        )
        #expect(
            errors == [
                "policy.yaml:11:9: rule 'r' has neither allow nor deny: 'allow' (line 14) is indented under 'when'; "
                    + "indent it as deep as 'when'"
            ])
    }

    @Test func aMisspeltScopeGetsADidYouMean() throws {
        let fixture = try PolicyFixture(
            policy(
                rules: """
                          - name: r
                            when: { scopes: [read:todo] }
                            allow: { tools: [t] }
                    """, serverExtra: "\n    scopes_supported: [read:todos]"
            )
        )
        defer { fixture.remove() }
        let warnings = try fixture.load().warnings.map(\.message)
        #expect(
            warnings == [
                "scope 'read:todo' is not in scopes_supported of server 'srv', so clients will not know to request it "
                    + "(did you mean 'read:todos'?)"
            ])
    }
}
