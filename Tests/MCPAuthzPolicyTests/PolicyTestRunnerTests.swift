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
            ]
        )
        let rendered = report.render()
        #expect(rendered.hasPrefix("FAIL "))
        #expect(rendered.contains("policy_test.yaml:2:5: deliberately wrong\n    decision: expected allow, got deny"))
        #expect(rendered.hasSuffix("\n0 passed, 1 failed"))
    }

    @Test func anUnknownServerFailsTheCaseWithASuggestion() throws {
        let report = try run(
            """
            cases:
              - name: typo in server
                server: svr
                claims: { iss: https://idp.example.com/, sub: u }
                request: { method: ping }
                expect: { decision: deny }
            """
        )
        #expect(report.failures.map(\.differences) == [["server: no server 'svr' in the policy (did you mean 'srv'?)"]])
    }

    /// A token from an issuer the policy does not know is refused as the sidecar refuses it
    /// (401 issuer_untrusted), so a case can expect that; a case that expected otherwise is told
    /// the iss it came closest to (Auth0's trailing slash is the usual slip).
    @Test func aTokenFromAnUnknownIssuerIsRefusedAsTheSidecarRefusesIt() throws {
        let report = try run(
            """
            cases:
              - name: a stranger is refused
                server: srv
                claims: { iss: https://evil.example.com/, sub: u }
                request: { method: ping }
                expect: { decision: deny, status: 401, reason: issuer_untrusted }
              - name: the trailing slash forgotten
                server: srv
                claims: { iss: https://idp.example.com, sub: u, scope: read }
                request: { method: tools/call, name: get }
                expect: { decision: allow }
            """
        )
        #expect(report.passedCases.map(\.name) == ["a stranger is refused"])
        #expect(
            report.failures.map(\.differences) == [
                [
                    "claims: iss 'https://idp.example.com' matches no issuer of the policy (did you mean 'https://idp.example.com/'?); set claims.iss or issuer",
                    "decision: expected allow, got deny",
                ]
            ])
    }

    @Test func duplicateCaseNamesAreReportedAndOneBadFileDoesNotStopTheOthers() throws {
        let good = """
            cases:
              - name: ping
                server: srv
                claims: { iss: https://idp.example.com/, sub: u }
                request: { method: ping }
                expect: { decision: deny }
            """
        let fixture = try PolicyFixture([
            "a_test.yaml": good, "b_test.yaml": good,
            "c_test.yaml": "cases:\n  - name: broken\n    server: srv\n",
        ])
        defer { fixture.remove() }
        let loaded = PolicyTestRunner().load(try PolicyLoader.files(at: fixture.folder, kind: .test))
        #expect(loaded.cases.map(\.location.file).map { ($0 as NSString).lastPathComponent } == ["a_test.yaml", "b_test.yaml"])
        let problems = loaded.problems.map { $0.description.replacingOccurrences(of: fixture.folder + "/", with: "") }
        #expect(problems.filter { $0.hasPrefix("a_test.yaml") }.isEmpty)
        #expect(problems.filter { $0.hasPrefix("b_test.yaml") } == ["b_test.yaml:2:5: case name 'ping' is already used at a_test.yaml:2:5"])
        #expect(!problems.filter { $0.hasPrefix("c_test.yaml:") }.isEmpty, "the broken file is reported")
    }

    @Test func verboseListsThePassingCasesAndFailuresSayHowToReproduce() throws {
        let report = try run(
            """
            cases:
              - name: readers read
                server: srv
                claims: { iss: https://idp.example.com/, sub: u, scope: read }
                request: { method: tools/call, name: get }
                expect: { decision: allow }
              - name: wrong on purpose
                server: srv
                claims: { iss: https://idp.example.com/, sub: u }
                request: { method: tools/call, name: get }
                expect: { decision: allow }
            """
        )
        let rendered = report.render(verbose: true) { "explain \($0.name)" }
        #expect(rendered.contains("ok   "))
        #expect(rendered.contains(": readers read\nFAIL "))
        #expect(rendered.contains("    reproduce: explain wrong on purpose\n1 passed, 1 failed"))
        #expect(!report.render().contains("ok   "), "quiet by default")
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
                    "policy_test.yaml:6:41: unknown reason 'alowed' (did you mean 'allowed'?); reasons: allowed, denied_by_rule, no_matching_rule, unknown_server, issuer_untrusted, arguments_unavailable, rate_limited",
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
