import Foundation
import MCPAuthzPolicy
import MCPAuthzServer
import Testing

/// `mcp-authz replay`'s engine: records written by the audit line writer, re-decided with a
/// candidate policy.
@Suite struct AuditReplayTests {
    static let policy = """
        version: 1
        issuers:
          - id: idp
            issuer: https://idp.test/
            jwks_file: jwks.json
            require_email_verified: true
        servers:
          - id: todos
            match: { path_prefix: /mcp }
            resource: https://mcp.test/mcp
            issuers: [idp]
            rules:
        """

    /// The policy with these rules under `todos`.
    static func candidate(_ rules: String) throws -> (PolicySnapshot, TestFolder) {
        let folder = try TestFolder()
        try folder.write("policy.yaml", policy + "\n" + rules)
        return (try PolicySnapshot.load(path: folder.path + "/policy.yaml").snapshot, folder)
    }

    /// A decision record as the sidecar writes it.
    static func record(
        _ id: String, allowed: Bool, reason: String? = nil, rule: String? = nil, operations: [MCPOperation] = [tool("get_todo")],
        issuer: String? = "https://idp.test/", email: String? = nil, scopes: [String] = [], configure: (inout DecisionRecord) -> Void = { _ in }
    ) -> AuditEntry {
        var record = DecisionRecord(
            decisionID: id, requestID: nil, endpoint: "auth", serverID: "todos", httpMethod: "POST", httpPath: "/mcp", operations: operations,
            issuer: issuer, subject: "user-1", email: email, clientID: "client-1", scopes: scopes, allowed: allowed,
            status: allowed ? 200 : 403, reason: reason ?? (allowed ? "allowed" : "no_matching_rule"), rule: rule, policyRevision: "old",
            latencyMicroseconds: 1, tokenFingerprint: nil
        )
        configure(&record)
        return AuditEntry(time: 1, .decision(record))
    }

    static func tool(_ name: String) -> MCPOperation { MCPOperation(method: "tools/call", name: name) }

    static func replay(_ entries: [AuditEntry], with snapshot: PolicySnapshot) -> ReplayReport {
        var replay = AuditReplay(snapshot: snapshot)
        for (index, line) in AuditLineTests.chain(entries).enumerated() { replay.replay(line: line, file: "audit.jsonl", lineNumber: index + 1) }
        return replay.report
    }

    @Test func flipsAreGroupedByDirectionServerOperationAndRule() throws {
        let (snapshot, folder) = try Self.candidate(
            """
                  - name: readers
                    when: { scopes: [read:todos] }
                    allow: { tools: [get_todo] }
                  - name: no deletes
                    deny: { tools: [delete_todo] }
                  - name: exports
                    when: { scopes: [export] }
                    allow: { tools: [export_todos] }
            """
        )
        _ = folder
        let report = Self.replay(
            [
                Self.record("same-1", allowed: true, rule: "readers", scopes: ["read:todos"]),
                Self.record("same-2", allowed: false, scopes: []),
                Self.record("gone-1", allowed: true, rule: "deleters", operations: [Self.tool("delete_todo")], scopes: ["read:todos"]),
                Self.record("gone-2", allowed: true, rule: "deleters", operations: [Self.tool("delete_todo")]),
                Self.record("new-1", allowed: false, operations: [Self.tool("export_todos")], scopes: ["export"]),
            ],
            with: snapshot
        )
        #expect(report.records == 5 && report.same == 2)
        #expect(report.count(.allowToDeny) == 2 && report.count(.denyToAllow) == 1)
        let flips = report.sortedFlips
        #expect(flips.count == 2)
        #expect(flips[0].flip.direction == .denyToAllow && flips[0].flip.ruleAfter == "exports" && flips[0].group.samples == ["new-1"])
        let gone = flips[1]
        #expect(gone.flip.operation == "tools/call tool 'delete_todo'" && gone.flip.ruleBefore == "deleters")
        #expect(gone.flip.ruleAfter == "no deletes" && gone.flip.reasonAfter == "denied_by_rule" && gone.group.samples == ["gone-1", "gone-2"])
    }

    @Test func aBatchIsDecidedWholeAndAnUnknownIssuerIsUntrusted() throws {
        let (snapshot, folder) = try Self.candidate(
            """
                  - name: readers
                    allow: { tools: [get_todo, list_todos] }
            """
        )
        _ = folder
        let batch = [Self.tool("get_todo"), Self.tool("list_todos"), Self.tool("delete_todo")]
        let report = Self.replay(
            [
                Self.record("batch-allowed", allowed: true, operations: batch),
                Self.record("batch-ok", allowed: true, operations: Array(batch.prefix(2))),
                Self.record("elsewhere", allowed: true, issuer: "https://other.test/"),
            ],
            with: snapshot
        )
        #expect(report.same == 1)
        let flips = Dictionary(uniqueKeysWithValues: report.sortedFlips.map { ($0.group.samples[0], $0.flip) })
        #expect(flips["batch-allowed"]?.operation == "tools/call tool 'get_todo' + tools/call tool 'list_todos' + tools/call tool 'delete_todo'")
        #expect(flips["batch-allowed"]?.reasonAfter == "no_matching_rule")
        #expect(flips["elsewhere"]?.reasonAfter == "issuer_untrusted")
    }

    @Test func recordsNoPolicyDecidedArePassedOverAndTornLinesCounted() throws {
        let (snapshot, folder) = try Self.candidate("      - name: all\n        allow: { tools: [\"*\"] }\n")
        _ = folder
        var replay = AuditReplay(snapshot: snapshot)
        let lines = AuditLineTests.chain([
            Self.record("expired", allowed: false, reason: "token_expired", issuer: nil),
            Self.record("mismatch", allowed: false, reason: "header_mismatch"),
            AuditEntry(time: 1, .event(.auditReopen)),
            Self.record("ok", allowed: true),
        ])
        for (index, line) in lines.enumerated() { replay.replay(line: line, file: "a", lineNumber: index + 1) }
        replay.replay(line: Array(lines[3].prefix(40)), file: "a", lineNumber: 5)
        #expect(replay.report.records == 3 && replay.report.same == 1 && replay.report.flips.isEmpty)
        #expect(replay.report.skipped == ["refused before the policy (token_expired)": 1, "refused before the policy (header_mismatch)": 1])
        #expect(replay.report.unreadable == 1 && replay.report.firstUnreadable == "a:5")
    }

    @Test func aClaimTheRecordDoesNotHoldIsUndecidableNeverGuessed() throws {
        let (snapshot, folder) = try Self.candidate(
            """
                  - name: acme only
                    when: { claims: { tenant: [acme] } }
                    allow: { tools: [get_todo] }
            """
        )
        _ = folder
        let report = Self.replay(
            [
                Self.record("no-claims", allowed: true),
                Self.record("acme", allowed: false) { $0.claims = [("tenant", .string("acme"))] },
                Self.record("absent", allowed: true) { $0.claims = [("tenant", nil)] },
                Self.record("other", allowed: true) { $0.claims = [("tenant", .array([.string("x"), .string("acme")]))] },
            ],
            with: snapshot
        )
        #expect(report.undecidable["claim 'tenant' not recorded"]?.samples == ["no-claims"])
        #expect(report.count(.denyToAllow) == 1 && report.count(.allowToDeny) == 1 && report.same == 1)
        #expect(report.sortedFlips.first { $0.flip.direction == .allowToDeny }?.group.samples == ["absent"])
    }

    @Test func argumentsTheRecordDoesNotHoldAreUndecidableOnlyWhenTheyMatter() throws {
        let (snapshot, folder) = try Self.candidate(
            """
                  - name: our projects
                    when: { scopes: [export], arguments: { project: "acme-*" } }
                    allow: { tools: [export_todos] }
            """
        )
        _ = folder
        let export = [Self.tool("export_todos")]
        let report = Self.replay(
            [
                Self.record("unaudited", allowed: true, operations: export, scopes: ["export"]) { $0.arguments = [("project", nil)] },
                Self.record("audited", allowed: true, operations: export, scopes: ["export"]) {
                    $0.arguments = [("project", .string("other"))]
                },
                // Without the scope the argument does not matter: decided.
                Self.record("no-scope", allowed: false, operations: export),
            ],
            with: snapshot
        )
        #expect(report.undecidableCount == 1 && report.undecidable.values.first?.samples == ["unaudited"])
        #expect(report.same == 1 && report.sortedFlips.map(\.group.samples) == [["audited"]])
    }

    @Test func anUnverifiedEmailIsReplayedAsTheIssuerReadsIt() throws {
        let (snapshot, folder) = try Self.candidate(
            """
                  - name: alice
                    when: { emails: [alice@example.com] }
                    allow: { tools: [get_todo] }
            """
        )
        _ = folder
        let report = Self.replay(
            [
                Self.record("verified", allowed: true, email: "alice@example.com") { $0.emailVerified = true },
                Self.record("unverified", allowed: true, email: "alice@example.com") { $0.emailVerified = false },
            ],
            with: snapshot
        )
        #expect(report.same == 1 && report.sortedFlips.map(\.group.samples) == [["unverified"]])
    }

    @Test func operationDescriptionsReadBack() {
        for operation in [
            MCPOperation(method: "tools/call", name: "it's 'quoted'"), MCPOperation(method: "ping"),
            MCPOperation(method: "completion/complete", target: .init(kind: .prompt, name: "p q")),
        ] {
            #expect(MCPOperation(description: operation.description) == operation)
        }
        #expect(MCPOperation(description: "tools/call tool 'cut") == nil)
        #expect(MCPOperation(description: "tools/call gadget 'x'") == nil)
    }
}
