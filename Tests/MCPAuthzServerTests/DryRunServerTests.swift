import Foundation
import HTTPTypes
import HummingbirdTesting
import MCPAuthzServer
import Testing

/// A dry-run rule through the sidecar, and what an audit record keeps for a replay: groups and
/// the claims `claims:` conditions name.
@Suite struct DryRunServerTests {
    static func policy(_ jwksFile: String) -> String {
        testPolicy(jwksFile: jwksFile).replacingOccurrences(
            of: """
                      - name: billing
                """,
            with: """
                      - name: no reading outside the EU, on trial
                        mode: dry_run
                        when: { not: { claims: { region: eu } } }
                        deny: { tools: [get_todo] }
                      - name: billing
                """
        )
    }

    @Test func theAnswerIsUnchangedAndTheRecordNamesTheDryRunRule() async throws {
        let path = NSTemporaryDirectory() + "mcp-authz-audit-dry-run-" + UUID().uuidString + ".jsonl"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await withSidecar(policy: Self.policy, configure: { $0.audit.destinations = [.file(path)] }) { sidecar in
            #expect(try await sidecar.callTool("get_todo", token: sidecar.token("admin")).status == .ok)
            let body = #"{"server":"todos","token":"\#(sidecar.token("reader"))","method":"tools/call","name":"get_todo"}"#
            let answer = try sidecar.json(try await sidecar.send(.post, "/v1/decide", body: body))
            #expect(answer["allow"] as? Bool == true)
            #expect(answer["would_deny_by"] as? String == "no reading outside the EU, on trial")
            #expect(try await eventually { AuditLogTests.lines(path).filter { $0["event"] as? String == "decision" }.count == 2 })
            let decisions = AuditLogTests.lines(path).filter { $0["event"] as? String == "decision" }
            #expect(decisions.map { $0["decision"] as? String } == ["allow", "allow"])
            #expect(
                decisions.map { $0["would_deny_by"] as? String } == ["no reading outside the EU, on trial", "no reading outside the EU, on trial"])
            #expect(decisions[0]["groups"] as? [String] == ["mcp-admins"])
            // The tokens carry no region claim: the record says so (null), for a replay to know.
            #expect((decisions[0]["claims"] as? [String: Any])?.count == 1)
            #expect((decisions[0]["claims"] as? [String: Any])?["region"] is NSNull)
        }
    }
}
