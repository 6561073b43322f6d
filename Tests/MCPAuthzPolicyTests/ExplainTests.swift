import Testing

@testable import MCPAuthzPolicy

@Suite struct ExplainTests {
    let snapshot: PolicySnapshot

    init() throws {
        snapshot = try compile(
            policy(
                rules: """
                          - name: basics
                            allow: { methods: [ping] }
                          - name: billing
                            when: { scopes: [read:billing] }
                            allow: { tools: [get_billing] }
                          - name: staff billing
                            when: { email_domains: [example.com], claims: { tier: gold } }
                            allow: { tools: ["get_*"] }
                    """
            )
        )
    }

    func explain(_ identity: Identity, _ method: String, _ name: String?) -> Explanation {
        snapshot.explain(DecisionInput(serverID: "srv", identity: identity, operation: MCPOperation(method: method, name: name)))
    }

    @Test func everyRuleIsListedWithWhyItDidOrDidNotMatch() {
        let explanation = explain(.caller(email: "ann@example.com", claims: ["tier": .string("silver")]), "tools/call", "get_billing")
        #expect(explanation.decision.reason == .noMatchingRule)
        #expect(explanation.traces.map(\.name) == ["basics", "billing", "staff billing"])
        #expect(explanation.traces[0].appliedBy == nil)
        #expect(explanation.traces[1].failed == .scopes)
        #expect(explanation.traces[1].detail == "missing read:billing")
        #expect(explanation.traces[2].failed == .claims)
        #expect(explanation.traces[2].detail == #"claim 'tier' is "silver", expected "gold""#)
        let text = explanation.render()
        #expect(text.hasPrefix("decision: deny (403 no_matching_rule)\nscopes that would allow it: read:billing\n"))
        let ruleLines = text.split(separator: "\n").filter { $0.hasPrefix("  ") }
        #expect(ruleLines.count == 3)
        #expect(ruleLines[0].hasPrefix(#"  1. allow "basics" ("#))
        #expect(ruleLines[0].hasSuffix("/policy.yaml:11:9): does not apply to tools/call tool 'get_billing'"))
        #expect(ruleLines[1].hasSuffix("/policy.yaml:13:9): applies via 'get_billing'; condition fails on scopes: missing read:billing"))
    }

    @Test func theMatchingRuleIsMarked() {
        let explanation = explain(.caller(scopes: ["read:billing"]), "tools/call", "get_billing")
        #expect(explanation.decision.rule == "billing")
        #expect(explanation.traces.filter(\.matched).map(\.name) == ["billing"])
        #expect(explanation.render().contains("condition holds -> MATCH"))
    }

    @Test func anIssuerTheServerDoesNotAcceptIsExplained() {
        let explanation = explain(.caller(issuer: "elsewhere"), "ping", nil)
        #expect(explanation.decision.status == 401)
        #expect(explanation.notes == ["server 'srv' accepts tokens from idp, not from 'elsewhere'"])
    }

    /// Explanations evaluate rules one by one, decisions through the index; they must agree.
    @Test func explanationsAgreeWithDecisions() {
        let identities: [Identity] = [
            .caller(), .caller(scopes: ["read:billing"]), .caller(email: "a@example.com", claims: ["tier": .string("gold")]),
            .caller(email: "a@other.com", claims: ["tier": .string("gold")]),
        ]
        for identity in identities {
            for (method, name) in [("ping", nil), ("tools/call", "get_billing"), ("tools/call", "get_x"), ("tools/list", nil)] as [(String, String?)]
            {
                let explanation = explain(identity, method, name)
                let firstMatch = explanation.traces.first { $0.matched && $0.effect == .deny } ?? explanation.traces.first { $0.matched }
                #expect(explanation.decision.rule == firstMatch?.name)
            }
        }
    }
}
