import Testing

@testable import MCPAuthzPolicy

/// How rules combine into a decision.
@Suite struct DecisionTests {
    @Test func everythingIsDeniedByDefault() throws {
        let s = try compile(
            policy(
                rules: """
                          - name: only ping
                            allow: { methods: [ping] }
                    """
            )
        )
        let decision = s.decide(.caller(), "tools/call", "anything")
        #expect(decision == Decision(effect: .deny, status: 403, reason: .noMatchingRule))
        #expect(s.decide(.caller(), "ping") == Decision(effect: .allow, status: 200, reason: .allowed, rule: "only ping"))
    }

    @Test func aMatchingDenyWinsOverEveryAllowWhereverItIsWritten() throws {
        let s = try compile(
            policy(
                rules: """
                          - name: all tools
                            allow: { methods: ["tools/*"] }
                          - name: this tool
                            allow: { tools: [drop_table] }
                          - name: never drop
                            deny: { tools: ["drop_*"] }
                    """
            )
        )
        let decision = s.decide(.caller(), "tools/call", "drop_table")
        #expect(decision == Decision(effect: .deny, status: 403, reason: .deniedByRule, rule: "never drop"))
        #expect(s.decide(.caller(), "tools/call", "select").rule == "all tools")
    }

    @Test func theFirstMatchingAllowInFileOrderIsTheDecidingRule() throws {
        let s = try compile(
            policy(
                rules: """
                          - name: first
                            when: { scopes: [a] }
                            allow: { tools: [t] }
                          - name: second
                            allow: { tools: ["*"] }
                    """
            )
        )
        #expect(s.decide(.caller(scopes: ["a"]), "tools/call", "t").rule == "first")
        #expect(s.decide(.caller(), "tools/call", "t").rule == "second")
    }

    @Test func aDenyWhoseConditionFailsDoesNotDeny() throws {
        let s = try compile(
            policy(
                rules: """
                          - name: tools
                            allow: { tools: ["*"] }
                          - name: no deletes outside admins
                            when: { not: { groups: [admins] } }
                            deny: { tools: ["delete_*"] }
                    """
            )
        )
        #expect(s.decide(.caller(groups: ["admins"]), "tools/call", "delete_x").isAllowed)
        #expect(s.decide(.caller(groups: ["devs"]), "tools/call", "delete_x").reason == .deniedByRule)
    }

    @Test func aMethodPatternCoversWhateverTheMethodNames() throws {
        let s = try compile(
            policy(
                rules: """
                          - name: read all resources
                            allow: { methods: [resources/read] }
                    """
            )
        )
        #expect(s.decide(.caller(), "resources/read", "file:///anything").isAllowed)
        #expect(!s.decide(.caller(), "tools/call", "x").isAllowed)
    }

    @Test func aToolPatternCoversOnlyCallsOfThatTool() throws {
        let s = try compile(
            policy(
                rules: """
                          - name: one tool
                            allow: { tools: [t] }
                    """
            )
        )
        #expect(s.decide(.caller(), "tools/call", "t").isAllowed)
        #expect(!s.decide(.caller(), "tools/list").isAllowed, "allowing a tool does not allow listing")
        #expect(!s.decide(.caller(), "prompts/get", "t").isAllowed, "a tool pattern does not cover a prompt of that name")
        #expect(!s.decide(.caller(), "tools/call").isAllowed, "a call without a name matches no tool")
    }

    @Test func promptsAndResourcesAreMatchedByTheirOwnPatterns() throws {
        let s = try compile(
            policy(
                rules: """
                          - name: prompts and docs
                            allow: { prompts: ["summarize*"], resources: ["docs://public/*"] }
                    """
            )
        )
        #expect(s.decide(.caller(), "prompts/get", "summarize_thread").isAllowed)
        #expect(s.decide(.caller(), "resources/read", "docs://public/a.md").isAllowed)
        #expect(s.decide(.caller(), "resources/subscribe", "docs://public/a.md").isAllowed)
        #expect(!s.decide(.caller(), "resources/read", "docs://private/a.md").isAllowed)
        #expect(!s.decide(.caller(), "tools/call", "summarize_thread").isAllowed)
    }

    @Test func completionsNameTheirPromptOrResourceExplicitly() throws {
        let s = try compile(
            policy(
                rules: """
                          - name: one prompt
                            allow: { prompts: [greet] }
                    """
            )
        )
        let allowed = MCPOperation(method: "completion/complete", target: .init(kind: .prompt, name: "greet"))
        let other = MCPOperation(method: "completion/complete", target: .init(kind: .prompt, name: "other"))
        #expect(s.decide(DecisionInput(serverID: "srv", identity: .caller(), operation: allowed)).isAllowed)
        #expect(!s.decide(DecisionInput(serverID: "srv", identity: .caller(), operation: other)).isAllowed)
    }

    @Test func tokensFromAnIssuerTheServerDoesNotAcceptGet401() throws {
        let s = try compile(
            policy(
                rules: """
                          - name: everything
                            allow: { methods: ["*"] }
                    """, issuerExtra: "\n  - id: other\n    issuer: https://other.example.com/"
            )
        )
        #expect(s.decide(.caller(issuer: "other"), "ping") == Decision(effect: .deny, status: 401, reason: .issuerUntrusted))
    }

    @Test func anUnknownServerIsDenied() throws {
        let s = try compile(
            policy(
                rules: """
                          - name: everything
                            allow: { methods: ["*"] }
                    """
            )
        )
        #expect(s.decide(.caller(), "ping", server: "nope").reason == .unknownServer)
    }

    @Test func aDefaultDenyNamesTheFewestScopesThatWouldAllowIt() throws {
        let s = try compile(
            policy(
                rules: """
                          - name: needs two
                            when: { scopes: [a, b] }
                            allow: { tools: [t] }
                          - name: needs one
                            when: { any_scopes: [c, d] }
                            allow: { tools: [t] }
                    """
            )
        )
        let decision = s.decide(.caller(scopes: ["a"]), "tools/call", "t")
        #expect(decision.reason == .noMatchingRule)
        #expect(decision.requiredScopes == ["b"])
        #expect(s.decide(.caller(), "tools/call", "t").requiredScopes == ["c"])
    }

    @Test func noScopesAreNamedWhenADenyWouldStillWin() throws {
        let s = try compile(
            policy(
                rules: """
                          - name: writers
                            when: { scopes: [write] }
                            allow: { tools: [t] }
                          - name: contractors never
                            when: { groups: [contractors] }
                            deny: { tools: [t] }
                    """
            )
        )
        #expect(s.decide(.caller(groups: ["contractors"]), "tools/call", "t").reason == .deniedByRule)
        let other = s.decide(.caller(groups: ["staff"]), "tools/call", "t")
        #expect(other.requiredScopes == ["write"])
    }

    @Test func noScopesAreNamedWhenAddingThemWouldTriggerADeny() throws {
        let s = try compile(
            policy(
                rules: """
                          - name: writers
                            when: { scopes: [write] }
                            allow: { tools: [t] }
                          - name: interns may not write
                            when: { scopes: [write], groups: [interns] }
                            deny: { tools: [t] }
                    """
            )
        )
        #expect(s.decide(.caller(groups: ["interns"]), "tools/call", "t") == Decision(effect: .deny, status: 403, reason: .noMatchingRule))
        #expect(s.decide(.caller(groups: ["staff"]), "tools/call", "t").requiredScopes == ["write"])
    }

    @Test func noScopesAreNamedWhenTheRuleNeedsMoreThanScopes() throws {
        let s = try compile(
            policy(
                rules: """
                          - name: admins with write
                            when: { scopes: [write], groups: [admins] }
                            allow: { tools: [t] }
                    """
            )
        )
        #expect(s.decide(.caller(groups: ["staff"]), "tools/call", "t").requiredScopes == [])
        #expect(s.decide(.caller(groups: ["admins"]), "tools/call", "t").requiredScopes == ["write"])
    }
}
