import Foundation
import Testing

@testable import MCPAuthzPolicy

/// `mcp-authz test`: cases pass or fail with a readable difference.
@Suite struct PolicyTestRunnerTests {
    let policyYAML = policy(
        rules: """
                  - name: readers
                    when: { scopes: [read] }
                    allow: { tools: [get] }
            """
    )

    func run(_ tests: String) throws -> PolicyTestRunner.Report {
        let fixture = try PolicyFixture(["policy.yaml": policyYAML, "policy_test.yaml": tests])
        defer { fixture.remove() }
        let snapshot = try fixture.snapshot()
        let runner = PolicyTestRunner()
        let cases = try runner.cases(in: PolicyLoader.files(at: fixture.folder, kind: .test))
        return runner.run(cases, against: snapshot)
    }

    @Test func matchingExpectationsPass() throws {
        let report = try run(
            """
            cases:
              - name: readers read
                server: srv
                claims: { iss: https://idp.example.com/, sub: u, scope: read }
                request: { method: tools/call, name: get }
                expect: { decision: allow, status: 200, reason: allowed, rule: readers, required_scopes: [] }
              - name: others do not
                server: srv
                claims: { iss: https://idp.example.com/, sub: u }
                request: { method: tools/call, name: get }
                expect: { decision: deny, status: 403, reason: no_matching_rule, rule: null, required_scopes: [read] }
            """
        )
        #expect(report.passed == 2)
        #expect(report.failures.isEmpty)
        #expect(report.render() == "2 passed, 0 failed")
    }

    @Test func aWrongCaseFailsWithEveryDifferenceSpelledOut() throws {
        let report = try run(
            """
            cases:
              - name: deliberately wrong
                server: srv
                claims: { iss: https://idp.example.com/, sub: u }
                request: { method: tools/call, name: get }
                expect: { decision: allow, status: 200, reason: allowed, rule: readers }
            """
        )
        #expect(report.passed == 0)
        let failure = try #require(report.failures.first)
        #expect(failure.location.line == 2)
        #expect(
            failure.differences == [
                "decision: expected allow, got deny",
                "status: expected 200, got 403",
                "reason: expected allowed, got no_matching_rule",
                #"rule: expected "readers", got (none)"#,
                "(run: mcp-authz explain with this case's claims to see every rule considered)",
            ]
        )
        let rendered = report.render()
        #expect(rendered.hasPrefix("FAIL "))
        #expect(rendered.contains("policy_test.yaml:2:5: deliberately wrong\n    decision: expected allow, got deny"))
        #expect(rendered.hasSuffix("\n0 passed, 1 failed"))
    }

    @Test func anUnknownServerOrIssuerFailsTheCaseWithASuggestion() throws {
        let report = try run(
            """
            cases:
              - name: typo in server
                server: svr
                claims: { iss: https://idp.example.com/, sub: u }
                request: { method: ping }
                expect: { decision: deny }
              - name: unknown iss
                server: srv
                claims: { iss: https://evil.example.com/, sub: u }
                request: { method: ping }
                expect: { decision: deny }
            """
        )
        #expect(
            report.failures.map(\.differences) == [
                ["server: no server 'svr' in the policy (did you mean 'srv'?)"],
                ["claims: iss 'https://evil.example.com/' matches no issuer of the policy; set claims.iss or issuer"],
            ])
    }

    @Test func invalidTestFilesAreReportedAtTheirPosition() throws {
        let fixture = try PolicyFixture([
            "policy_test.yaml": """
            cases:
              - name: bad
                server: srv
                claims: { iss: https://idp.example.com/ }
                request: { method: tools/call, nmae: get }
                expect: { decision: permit, reason: alowed }
            """
        ])
        defer { fixture.remove() }
        do {
            _ = try PolicyTestRunner().cases(in: [fixture.path("policy_test.yaml")])
            Issue.record("expected the test file to be rejected")
        } catch {
            #expect(
                error.diagnostics.map { $0.description.replacingOccurrences(of: fixture.folder + "/", with: "") } == [
                    "policy_test.yaml:5:36: unknown key 'nmae' in request (did you mean 'name'?)",
                    "policy_test.yaml:6:25: decision must be allow or deny, found 'permit'",
                    "policy_test.yaml:6:41: unknown reason 'alowed' (did you mean 'allowed'?); reasons: allowed, denied_by_rule, no_matching_rule, unknown_server, issuer_untrusted",
                ]
            )
        }
    }

    @Test func theShippedExamplePoliciesPassTheirTests() throws {
        let policies = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../policies").standardized.path
        let snapshot = try PolicySnapshot.load(path: policies).snapshot
        let runner = PolicyTestRunner()
        let cases = try runner.cases(in: PolicyLoader.files(at: policies, kind: .test))
        let report = runner.run(cases, against: snapshot)
        #expect(cases.count >= 20)
        #expect(report.failures.isEmpty, "\(report.render())")
    }
}
