import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import MCPAuthzServer
import Testing

/// The audit log as the sidecar writes it.
@Suite struct AuditLogTests {
    static func lines(_ path: String) -> [[String: Any]] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        return data.split(separator: UInt8(ascii: "\n")).compactMap { try? JSONSerialization.jsonObject(with: Data($0)) as? [String: Any] }
    }

    @Test func everyDecisionIsRecordedWithoutTheToken() async throws {
        let path = NSTemporaryDirectory() + "mcp-authz-audit-" + UUID().uuidString + ".jsonl"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await withSidecar(configure: { $0.audit.destinations = [.file(path)] }) { sidecar in
            let allowed = try await sidecar.callTool("get_todo", token: sidecar.token("reader"))
            let denied = try await sidecar.callTool("get_billing", token: sidecar.token("reader"))
            let anonymous = try await sidecar.callTool("get_todo", token: nil)
            let ids = [allowed, denied, anonymous].compactMap { $0.header("X-Authz-Decision-Id") }
            let recorded = try await eventually { Self.lines(path).filter { $0["event"] as? String == "decision" }.count == 3 }
            #expect(recorded)
            let decisions = Self.lines(path).filter { $0["event"] as? String == "decision" }
            #expect(decisions.map { $0["decision_id"] as? String } == ids)
            #expect(decisions.map { $0["decision"] as? String } == ["allow", "deny", "deny"])
            #expect(decisions.map { $0["reason"] as? String } == ["allowed", "no_matching_rule", "token_missing"])
            #expect(decisions[0]["subject"] as? String == "user-reader")
            #expect(decisions[0]["mcp_name"] as? String == "get_todo")
            #expect(decisions[0]["server"] as? String == "todos")
            #expect((decisions[0]["token_fingerprint"] as? String)?.count == 16)
            #expect(decisions[2]["token_fingerprint"] is NSNull)
            let text = String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self)
            #expect(!text.contains(sidecar.token("reader")))
            #expect(text.contains(#""event":"policy_load""#))
            #expect(text.contains(#""event":"jwks_refresh""#))
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        }
    }

    @Test func unwritableAuditLogDeniesByDefault() async throws {
        try await withSidecar(configure: { $0.audit.destinations = [.file("/dev/full")] }) { sidecar in
            let failing = try await eventually { try sidecar.json(try await sidecar.send(.get, "/readyz"))["audit"] as? String == "failing" }
            #expect(failing)
            let response = try await sidecar.callTool("get_todo", token: sidecar.token("reader"))
            #expect(response.status == .forbidden)
            #expect(response.header("X-Authz-Reason") == "audit_unavailable")
            #expect(try await sidecar.send(.get, "/readyz").status == .serviceUnavailable)
            let metrics = try await sidecar.send(.get, "/metrics").text
            #expect(metrics.contains("mcp_authz_audit_healthy 0"))
            #expect(!metrics.contains("mcp_authz_audit_write_failures_total 0\n"))
        }
    }

    @Test func unwritableAuditLogKeepsDecidingWhenToldTo() async throws {
        try await withSidecar(
            configure: {
                $0.audit.destinations = [.file("/dev/full")]
                $0.audit.failClosed = false
            }
        ) { sidecar in
            let failing = try await eventually { try sidecar.json(try await sidecar.send(.get, "/readyz"))["audit"] as? String == "failing" }
            #expect(failing)
            let response = try await sidecar.callTool("get_todo", token: sidecar.token("reader"))
            #expect(response.status == .ok)
        }
    }

    @Test func auditPathThatCannotBeOpenedStopsStartUp() throws {
        var settings = SidecarSettings(policyPath: "/nonexistent")
        settings.audit.destinations = [.file("/nonexistent-dir/audit.jsonl")]
        settings.audit.trapsSIGUSR1 = false
        #expect {
            _ = try Sidecar.build(settings: settings, logger: .init(label: "t"), trapsSIGHUP: false)
        } throws: { error in
            guard case let .audit(problem)? = error as? SidecarStartError else { return false }
            return problem.message.contains("/nonexistent-dir/audit.jsonl")
        }
    }
}
