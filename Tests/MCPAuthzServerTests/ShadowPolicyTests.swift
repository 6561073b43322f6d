import Foundation
import HTTPTypes
import HummingbirdTesting
import MCPAuthzPolicy
import MCPAuthzServer
import Testing

/// `--shadow-policies`: a second policy set decided beside the first, never changing an answer.
@Suite struct ShadowPolicyTests {
    /// The test policy, with readers' todo tools taken away when `strict`. Its keys are never
    /// read: the shadow set decides on the identity the policy in force verified.
    static func shadow(strict: Bool) -> String {
        let policy = testPolicy(jwksFile: "/nonexistent/jwks.json")
        return strict
            ? policy.replacingOccurrences(
                of: "allow: { tools: [list_todos, get_todo, delete_todo, \"résumé\"] }", with: "allow: { tools: [list_todos] }"
            ) : policy
    }

    @Test func theShadowVerdictIsRecordedCountedAndAnsweredButNeverDecides() async throws {
        let folder = try TestFolder()
        try folder.write("shadow.yaml", Self.shadow(strict: true))
        let path = NSTemporaryDirectory() + "mcp-authz-audit-shadow-" + UUID().uuidString + ".jsonl"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await withSidecar(
            configure: {
                $0.shadowPolicyPath = folder.path + "/shadow.yaml"
                $0.audit.destinations = [.file(path)]
                $0.watchInterval = .milliseconds(100)
            }
        ) { sidecar in
            // The answer is the policy in force's; the shadow would deny.
            #expect(try await sidecar.callTool("get_todo", token: sidecar.token("reader")).status == .ok)
            let body = #"{"server":"todos","token":"\#(sidecar.token("reader"))","method":"tools/call","name":"get_todo"}"#
            let answer = try sidecar.json(try await sidecar.send(.post, "/v1/decide", body: body))
            #expect(answer["allow"] as? Bool == true)
            let shadow = try #require(answer["shadow"] as? [String: Any])
            #expect(shadow["decision"] as? String == "deny")
            #expect(shadow["status"] as? Int == 403)
            #expect(shadow["reason"] as? String == "no_matching_rule")
            #expect((shadow["policy_revision"] as? String)?.count == 16)
            // Agreeing and disagreeing decisions are counted apart.
            #expect(try await sidecar.callTool("list_todos", token: sidecar.token("reader")).status == .ok)
            let metrics = try await sidecar.send(.get, "/metrics").text
            #expect(metrics.contains(#"mcp_authz_shadow_decisions_total{server="todos",agreement="would_deny"} 2"#), "\(metrics)")
            #expect(metrics.contains(#"mcp_authz_shadow_decisions_total{server="todos",agreement="same"} 1"#), "\(metrics)")
            #expect(try await eventually { AuditLogTests.lines(path).filter { $0["event"] as? String == "decision" }.count == 3 })
            let decisions = AuditLogTests.lines(path).filter { $0["event"] as? String == "decision" }
            #expect(decisions.map { ($0["shadow"] as? [String: Any])?["decision"] as? String } == ["deny", "deny", "allow"])
            #expect(decisions.map { $0["decision"] as? String } == ["allow", "allow", "allow"])
            // A request refused before the policy (no token) has no shadow verdict.
            #expect(try await sidecar.callTool("get_todo", token: nil).status == .unauthorized)
            // The shadow set reloads when its file changes, like the policy in force.
            try folder.write("shadow.yaml", Self.shadow(strict: false))
            let relaxed = try await eventually {
                let again = try sidecar.json(try await sidecar.send(.post, "/v1/decide", body: body))
                return (again["shadow"] as? [String: Any])?["decision"] as? String == "allow"
            }
            #expect(relaxed)
            let loads = AuditLogTests.lines(path).filter { $0["event"] as? String == "policy_load" && $0["shadow"] as? Bool == true }
            #expect(loads.count == 2, "\(loads)")
        }
    }

    /// The shadow set reads the caller with its own issuer configuration when it differs from
    /// the policy in force's (here `groups_claim`), and reuses the caller when it does not.
    @Test func theShadowReadsTheCallerAsItsIssuerSays() throws {
        let folder = try TestFolder()
        let primaryText = testPolicy(jwksFile: "/nonexistent/jwks.json")
        try folder.write("primary.yaml", primaryText)
        try folder.write(
            "shadow.yaml",
            primaryText.replacingOccurrences(
                of: "    jwks_file: /nonexistent/jwks.json\n  - id: access",
                with: "    jwks_file: /nonexistent/jwks.json\n    groups_claim: roles\n  - id: access"))
        let primary = try PolicySnapshot.load(path: folder.path + "/primary.yaml").snapshot
        let shadow = try ShadowPolicy(path: folder.path + "/shadow.yaml", limits: .default)
        let claims: [String: ClaimValue] = [
            "iss": .string("https://idp.test.example/"), "sub": .string("u"), "scope": .string("read:todos"),
            "groups": .array([.string("mcp-admins")]), "roles": .array([]),
        ]
        let caller = try #require(primary.identity(fromClaims: claims))
        let delete = [MCPOperation(method: "tools/call", name: "delete_todo")]
        // The policy in force reads groups: an admin may delete. The shadow reads roles: not.
        #expect(primary.decide(DecisionInput(serverID: "todos", identity: caller, operation: delete[0])).isAllowed)
        let verdict = shadow.verdict(serverID: "todos", caller: caller, readBy: primary.issuers["idp"], operations: delete)
        #expect(verdict.reason == "denied_by_rule" && verdict.agreement(with: true) == "would_deny")
        let stranger = try #require(primary.identity(fromClaims: claims.merging(["iss": .string("https://team.cloudflareaccess.test")]) { $1 }))
        let unknownServer = shadow.verdict(serverID: "nope", caller: stranger, readBy: nil, operations: [])
        #expect(unknownServer.reason == "unknown_server")
    }

    @Test func anInvalidShadowPolicyStopsTheStart() async throws {
        let folder = try TestFolder()
        try folder.write("shadow.yaml", "version: 1\nservers: [\n")
        await #expect {
            try await withSidecar(configure: { $0.shadowPolicyPath = folder.path + "/shadow.yaml" }) { _ in }
        } throws: { error in
            guard case .shadowPolicy? = error as? SidecarStartError else { return false }
            return true
        }
    }
}
