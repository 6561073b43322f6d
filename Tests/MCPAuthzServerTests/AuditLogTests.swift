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

    /// A destination that stops taking bytes (a pipe nobody reads) is a failing one after the
    /// stall timeout, and writes again, with the gap counted, once it is read. In `queued` mode,
    /// where answers do not wait for the writer and so fill the buffer (`AuditDurabilityTests`
    /// for the other modes).
    @Test func aStalledDestinationCountsAsFailingAndRecovers() async throws {
        let pipe = try AuditPipe()
        defer { pipe.close() }
        try await withSidecar(
            configure: {
                $0.audit.destinations = [pipe.destination]
                $0.audit.stallTimeout = .milliseconds(300)
                $0.audit.bufferCapacity = 16
                $0.audit.durability = .queued
            }
        ) { sidecar in
            var allowed = 0
            for _ in 0..<400 {
                let response = try await sidecar.callTool("get_todo", token: sidecar.token("reader"))
                if response.status == .ok { allowed += 1 } else { break }
            }
            #expect(allowed > 16, "the pipe and the buffer took records first")
            let failing = try await eventually { try sidecar.json(try await sidecar.send(.get, "/readyz"))["audit"] as? String == "failing" }
            #expect(failing)
            let denied = try await sidecar.callTool("get_todo", token: sidecar.token("reader"))
            #expect(denied.header("X-Authz-Reason") == "audit_unavailable")
            #expect(try await sidecar.send(.get, "/healthz").status == .ok)
            // Read the pipe from now on: writes go through, the gap is recorded.
            let drained = Drain(pipe.readEnd)
            let writing = try await eventually { try sidecar.json(try await sidecar.send(.get, "/readyz"))["audit"] as? String == "writing" }
            #expect(writing)
            #expect(try await sidecar.callTool("get_todo", token: sidecar.token("reader")).status == .ok)
            let gap = try await eventually { drained.text.contains(#""event":"audit_gap""#) }
            #expect(gap)
        }
    }

    /// A line cut short by a kill is ended on the next start, which records the tear and that
    /// the previous run did not stop cleanly; the chain goes on from the last whole line.
    @Test func aTornLastLineIsEndedAndRecorded() async throws {
        let path = NSTemporaryDirectory() + "mcp-authz-audit-torn-" + UUID().uuidString + ".jsonl"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await withSidecar(configure: { $0.audit.destinations = [.file(path)] }) { sidecar in
            _ = try await sidecar.callTool("get_todo", token: sidecar.token("reader"))
        }
        var bytes = try #require(FileManager.default.contents(atPath: path))
        let whole = bytes.split(separator: UInt8(ascii: "\n")).map { Array($0) }
        #expect(Self.lines(path).last?["event"] as? String == "audit_stop")
        bytes.append(contentsOf: whole[1].prefix(40))  // a writer killed mid-line
        try bytes.write(to: URL(fileURLWithPath: path))
        try await withSidecar(configure: { $0.audit.destinations = [.file(path)] }) { _ in }
        let text = String(decoding: try #require(FileManager.default.contents(atPath: path)), as: UTF8.self)
        let lines = text.split(separator: "\n").map { Array($0.utf8) }
        let torn = whole.count
        #expect(lines[torn] == Array(whole[1].prefix(40)), "the fragment ends at a newline")
        let start = try #require(try JSONSerialization.jsonObject(with: Data(lines[torn + 1])) as? [String: Any])
        #expect(start["event"] as? String == "audit_start")
        #expect(start["torn_tail"] as? Bool == true)
        #expect(start["unclean_shutdown"] == nil, "the run before ended with audit_stop")
        let lastWhole = AuditLine.declaredHash(of: whole[whole.count - 1])
        #expect(AuditLine.recordsTear(lines[torn + 1], previous: lastWhole))
        #expect(!AuditLine.recordsTear(lines[torn + 1], previous: AuditLine.genesis), "only from the last whole line")
        #expect(!AuditLine.recordsTear(whole[0], previous: nil), "an ordinary audit_start records no tear")
    }
}

/// A pipe for the audit log to write to, which nobody reads until the test says (`Drain`).
struct AuditPipe {
    let readEnd: Int32
    let writeEnd: Int32

    init() throws {
        var ends: [Int32] = [0, 0]
        try #require(pipe(&ends) == 0)
        (readEnd, writeEnd) = (ends[0], ends[1])
    }

    /// The write end as the audit log opens it.
    var destination: AuditDestination { .file("/proc/self/fd/\(writeEnd)") }

    func close() {
        Glibc.close(readEnd)
        Glibc.close(writeEnd)
    }
}

/// Reads a descriptor on its own thread until it closes, keeping what it read.
final class Drain: @unchecked Sendable {
    // Written by the reading thread and read by the test under the lock.
    private let lock = NSLock()
    private var bytes: [UInt8] = []

    init(_ descriptor: Int32) {
        Thread.detachNewThread { [self] in
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
                guard count > 0 else { return }
                lock.withLock { bytes += buffer[..<count] }
            }
        }
    }

    var text: String { lock.withLock { String(decoding: bytes, as: UTF8.self) } }
}

/// Argument conditions through the sidecar: `/v1/decide` with `arguments`, the forwarded body,
/// headers alone (not seen: fail closed), and the audit record naming the paths (values only
/// with `audit_arguments`).
@Suite struct ArgumentDecisionTests {
    static func policy(auditArguments: Bool) -> (String) -> String {
        { jwksFile in
            testPolicy(jwksFile: jwksFile).replacingOccurrences(
                of: """
                          - name: billing
                    """,
                with: """
                          - name: small refunds
                            when: { scopes: [read:todos], arguments: { amount: { max: 100 }, "to.account": "acme-*" } }
                            allow: { tools: [refund] }
                          - name: no refunds to closed accounts
                            when: { arguments: { "to.account": "acme-closed-*" } }
                            deny: { tools: [refund] }
                          - name: billing
                    """
            ).replacingOccurrences(
                of: "    scopes_supported: [read:todos, read:billing]",
                with: "    scopes_supported: [read:todos, read:billing]\n    audit_arguments: \(auditArguments)")
        }
    }

    @Test func decideTakesArgumentsAndTreatsMissingOnesAsUnseen() async throws {
        try await withSidecar(policy: Self.policy(auditArguments: false)) { sidecar in
            func decide(_ extra: String) async throws -> [String: Any] {
                let body = #"{"server":"todos","token":"\#(sidecar.token("reader"))","method":"tools/call","name":"refund"\#(extra)}"#
                return try sidecar.json(try await sidecar.send(.post, "/v1/decide", body: body))
            }
            let small = try await decide(#","arguments":{"amount":40,"to":{"account":"acme-1"}}"#)
            #expect(small["allow"] as? Bool == true)
            #expect(small["rule"] as? String == "small refunds")
            let big = try await decide(#","arguments":{"amount":400,"to":{"account":"acme-1"}}"#)
            #expect(big["reason"] as? String == "no_matching_rule")
            let typed = try await decide(#","arguments":{"amount":"40","to":{"account":"acme-1"}}"#)
            #expect(typed["reason"] as? String == "arguments_unavailable")
            let closed = try await decide(#","arguments":{"amount":40,"to":{"account":"acme-closed-9"}}"#)
            #expect(closed["reason"] as? String == "denied_by_rule")
            // Not given: not empty but unseen, so the deny that cannot be ruled out denies.
            let unseen = try await decide("")
            #expect(unseen["reason"] as? String == "arguments_unavailable")
            #expect(unseen["rule"] as? String == "no refunds to closed accounts")
            let bad = try await sidecar.send(
                .post, "/v1/decide", body: #"{"server":"todos","token":"x","method":"tools/call","name":"refund","arguments":[1]}"#
            )
            #expect(bad.status == .badRequest)
        }
    }

    @Test func theAuditRecordNamesTheArgumentPathsAndValuesOnlyWhenAsked() async throws {
        for audited in [false, true] {
            let path = NSTemporaryDirectory() + "mcp-authz-audit-arguments-" + UUID().uuidString + ".jsonl"
            defer { try? FileManager.default.removeItem(atPath: path) }
            try await withSidecar(policy: Self.policy(auditArguments: audited), configure: { $0.audit.destinations = [.file(path)] }) {
                sidecar in
                let body =
                    #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"refund","arguments":{"amount":40,"to":{"account":"acme-1"},"memo":"secret"}}}"#
                let allowed = try await sidecar.send(
                    .post, "/auth",
                    headers: [
                        "Authorization": "Bearer \(sidecar.token("reader"))", "X-Original-Method": "POST", "X-Original-URI": "/mcp",
                        "X-Forwarded-Host": "todos.test.example", "Content-Type": "application/json",
                    ],
                    body: body
                )
                #expect(allowed.status == .ok)
                // Headers alone on 2026-07-28: the name is trusted, the arguments are not seen.
                let unseen = try await sidecar.send(
                    .get, "/auth",
                    headers: [
                        "Authorization": "Bearer \(sidecar.token("reader"))", "X-Original-Method": "POST", "X-Original-URI": "/mcp",
                        "X-Forwarded-Host": "todos.test.example", "MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call",
                        "Mcp-Name": "refund",
                    ]
                )
                #expect(unseen.status == .forbidden)
                #expect(unseen.headers[HTTPField.Name("X-Authz-Reason")!] == "arguments_unavailable")
                #expect(try await eventually { AuditLogTests.lines(path).filter { $0["event"] as? String == "decision" }.count == 2 })
                let decisions = AuditLogTests.lines(path).filter { $0["event"] as? String == "decision" }
                #expect(decisions.map { $0["arguments"] as? [String] } == [["amount", "to.account"], ["to.account"]])
                let values = decisions[0]["argument_values"] as? [String: String]
                #expect(values == (audited ? ["amount": "40", "to.account": #""acme-1""#] : nil))
                #expect(decisions[1]["argument_values"] == nil)
                let text = String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self)
                #expect(!text.contains("secret"))
            }
        }
    }
}
