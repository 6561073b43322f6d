import Foundation
import Testing

@testable import MCPAuthzPolicy

/// `mode: dry_run`: a rule taken out of the decision, named when it would have decided.
@Suite struct DryRunTests {
    static let rules = """
              - name: readers
                when: { scopes: [read] }
                allow: { tools: ["*"] }
              - name: stricter deletes, on trial
                mode: dry_run
                when: { not: { groups: [admins] } }
                deny: { tools: ["delete_*"] }
              - name: exports for analysts, on trial
                mode: dry_run
                when: { groups: [analysts] }
                allow: { tools: [export] }
              - name: no purges
                deny: { tools: [purge_all] }
        """

    @Test func aDryRunDenyNeverDeniesButIsNamed() throws {
        let s = try compile(policy(rules: Self.rules))
        let decision = s.decide(.caller(scopes: ["read"]), "tools/call", "delete_x")
        #expect(decision.isAllowed && decision.rule == "readers")
        #expect(decision.wouldDecide == DryRunVerdict(effect: .deny, rule: "stricter deletes, on trial"))
        #expect(decision.wouldDecide?.field == "would_deny_by")
        // An admin is not caught by it: nothing to say.
        #expect(s.decide(.caller(scopes: ["read"], groups: ["admins"]), "tools/call", "delete_x").wouldDecide == nil)
    }

    @Test func aDryRunAllowNeverAllowsButIsNamed() throws {
        let s = try compile(policy(rules: Self.rules))
        let decision = s.decide(.caller(groups: ["analysts"]), "tools/call", "export")
        #expect(decision.reason == .noMatchingRule)
        #expect(decision.wouldDecide == DryRunVerdict(effect: .allow, rule: "exports for analysts, on trial"))
        #expect(decision.wouldDecide?.field == "would_allow_by")
    }

    @Test func anEnforcedRuleThatDecidesFirstLeavesNothingToSay() throws {
        let s = try compile(policy(rules: Self.rules))
        // A reader calling export: "readers" allows first, the dry-run allow would not decide.
        #expect(s.decide(.caller(scopes: ["read"], groups: ["analysts"]), "tools/call", "export").wouldDecide == nil)
        // purge_all is denied by an enforced deny; the dry-run deny does not name it.
        let purge = s.decide(.caller(scopes: ["read"]), "tools/call", "purge_all")
        #expect(purge.rule == "no purges" && purge.wouldDecide == nil)
    }

    @Test func modesAreCheckedAndDryRunRulesShadowNothing() throws {
        let bad = try errors(policy(rules: "      - name: r\n        mode: dry-run\n        allow: { tools: [t] }\n"))
        #expect(bad == ["policy.yaml:12:15: mode must be enforce or dry_run, found 'dry-run' (did you mean 'dry_run'?)"], "\(bad)")
        let warnings = try loadWarnings(
            policy(
                rules: """
                          - name: deny everything, on trial
                            mode: dry_run
                            deny: { tools: ["*"] }
                          - name: t
                            allow: { tools: [t] }
                    """
            )
        )
        #expect(warnings.isEmpty, "\(warnings)")
    }

    @Test func explainSaysWhatTheDryRunRuleWouldDo() throws {
        let s = try compile(policy(rules: Self.rules))
        let text = s.explain(
            DecisionInput(serverID: "srv", identity: .caller(scopes: ["read"]), operation: MCPOperation(method: "tools/call", name: "delete_x"))
        ).render()
        #expect(text.contains("note: dry run: rule 'stricter deletes, on trial' (mode: dry_run) would deny this, were it enforced"), "\(text)")
        #expect(text.contains("note: rules in dry run, left out below: exports for analysts, on trial, stricter deletes, on trial"), "\(text)")
    }
}
