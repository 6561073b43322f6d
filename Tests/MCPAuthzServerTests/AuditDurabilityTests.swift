import Foundation
import HTTPTypes
import HummingbirdTesting
import MCPAuthzServer
import Synchronization
import Testing

/// Group commit: which answers `AuditCommits` releases, and when.
@Suite struct AuditCommitsTests {
    /// What each waiter was told, by position.
    final class Told: Sendable {
        let values = Mutex<[UInt64: Bool]>([:])
        func waiter(_ position: UInt64) -> AuditCommits.Waiter { { written in self.values.withLock { $0[position] = written } } }
        subscript(position: UInt64) -> Bool? { values.withLock { $0[position] } }
    }

    @Test func aCommitReleasesEveryAnswerUpToItsPositionAndNoOther() {
        let commits = AuditCommits()
        let told = Told()
        for position: UInt64 in [3, 1, 2, 5, 4] { commits.wait(for: position, told.waiter(position)) }
        #expect(told[1] == nil, "nothing is written yet")
        commits.commit(through: 3)
        #expect([told[1], told[2], told[3]] == [true, true, true])
        #expect(told[4] == nil && told[5] == nil)
        commits.wait(for: 2, told.waiter(20))
        #expect(told[20] == true, "a wait for a record already written ends at once")
        commits.commit(through: 5)
        #expect(told[4] == true && told[5] == true)
    }

    @Test func aFailingLogReleasesEveryWaitAsNotWrittenUntilItRecovers() {
        let commits = AuditCommits()
        let told = Told()
        commits.wait(for: 1, told.waiter(1))
        commits.wait(for: 2, told.waiter(2))
        commits.fail()
        #expect(told[1] == false && told[2] == false)
        commits.wait(for: 3, told.waiter(3))
        #expect(told[3] == false, "no wait while the log cannot write")
        commits.recover()
        commits.wait(for: 4, told.waiter(4))
        #expect(told[4] == nil, "waits again once a write worked")
        commits.commit(through: 4)
        #expect(told[4] == true)
        commits.wait(for: 1, told.waiter(10))
        #expect(told[10] == true, "the records were written after all: a later wait says so")
    }

    @Test func aStoppedWriterReleasesEveryWaitForGood() async {
        let commits = AuditCommits()
        async let first = commits.wait(for: 1)
        try? await Task.sleep(for: .milliseconds(20))
        commits.end()
        #expect(await first == false)
        commits.recover()
        #expect(await commits.wait(for: 2) == false, "no writer will write it")
    }
}

/// `--audit-durability`: an answer arrives only once its record is in the file (`written`,
/// `synced`), on each path an answer takes; and a log that cannot write still answers.
@Suite(.serialized) struct AuditDurabilityTests {
    static func decisionIDs(_ path: String) -> Set<String> {
        Set(AuditLogTests.lines(path).filter { $0["event"] as? String == "decision" }.compactMap { $0["decision_id"] as? String })
    }

    /// Read at once after each answer, with no waiting: in `queued` mode most of these reads
    /// would find the record still gathering for its block.
    @Test(arguments: [AuditDurability.written, .synced])
    func everyAnswerFindsItsRecordInTheFile(durability: AuditDurability) async throws {
        let path = NSTemporaryDirectory() + "mcp-authz-durable-" + UUID().uuidString + ".jsonl"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await withSidecar(
            configure: {
                $0.audit.destinations = [.file(path)]
                $0.audit.durability = durability
            }
        ) { sidecar in
            var answered: [String] = []
            for round in 0..<20 {
                // The event loop's fast path (headers only), allowed and denied...
                let fast = try await sidecar.callTool(round.isMultiple(of: 2) ? "get_todo" : "get_billing", token: sidecar.token("reader"))
                // ...the general path (a body to read)...
                let general = try await sidecar.forwardAuth(
                    token: sidecar.token("reader"), headers: ["Content-Type": "application/json"],
                    body: #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_todo"}}"#
                )
                // ...and the decision API.
                let decided = try sidecar.json(
                    try await sidecar.send(
                        .post, "/v1/decide",
                        body: #"{"server":"todos","token":"\#(sidecar.token("reader"))","method":"tools/call","name":"get_todo"}"#
                    )
                )
                let ids = [fast.header("X-Authz-Decision-Id"), general.header("X-Authz-Decision-Id"), decided["decision_id"] as? String]
                    .compactMap { $0 }
                #expect(ids.count == 3)
                #expect([fast.status, general.status].map(\.code) == [round.isMultiple(of: 2) ? 200 : 403, 200])
                let recorded = Self.decisionIDs(path)
                for id in ids { #expect(recorded.contains(id), "answered \(id) before its record was written") }
                answered += ids
            }
            // Many at once: every answer of a block is released together.
            let burst = try await withThrowingTaskGroup(of: String?.self) { group in
                for _ in 0..<64 {
                    group.addTask { try await sidecar.callTool("get_todo", token: sidecar.token("reader")).header("X-Authz-Decision-Id") }
                }
                var ids: [String] = []
                for try await id in group {
                    if let id {
                        #expect(Self.decisionIDs(path).contains(id))
                        ids.append(id)
                    }
                }
                return ids
            }
            #expect(burst.count == 64)
            #expect(Set(answered + burst).count == answered.count + burst.count)
        }
    }

    /// A destination that stops taking bytes: an answer waiting for its record is not held
    /// past the stall timeout. Failing closed, an allow whose record was not written is then
    /// denied; keeping on deciding, it is sent. On `/auth` (the fast path) and `/v1/decide`.
    @Test(arguments: [true, false], ["auth", "decide"])
    func aStalledDestinationReleasesWaitingAnswers(failClosed: Bool, endpoint: String) async throws {
        let pipe = try AuditPipe()
        defer { pipe.close() }
        try await withSidecar(
            configure: {
                $0.audit.destinations = [pipe.destination]
                $0.audit.durability = .written
                $0.audit.stallTimeout = .milliseconds(300)
                $0.audit.failClosed = failClosed
            }
        ) { sidecar in
            /// An allowed call: whether it was allowed, the reason and the decision id.
            func ask() async throws -> (allowed: Bool, reason: String?, id: String?) {
                if endpoint == "auth" {
                    let response = try await sidecar.callTool("get_todo", token: sidecar.token("reader"))
                    return (response.status == .ok, response.header("X-Authz-Reason"), response.header("X-Authz-Decision-Id"))
                }
                let body = #"{"server":"todos","token":"\#(sidecar.token("reader"))","method":"tools/call","name":"get_todo"}"#
                let answer = try sidecar.json(try await sidecar.send(.post, "/v1/decide", body: body))
                return (answer["allow"] as? Bool == true, answer["reason"] as? String, answer["decision_id"] as? String)
            }
            func auditState() async throws -> String? { try sidecar.json(try await sidecar.send(.get, "/readyz"))["audit"] as? String }
            // A pipe holds 64 KiB: allows are answered while it takes their records.
            var allowed = 0
            var stalled: (allowed: Bool, reason: String?, id: String?)?
            for _ in 0..<2000 {
                let answer = try await ask()
                guard answer.allowed else {
                    stalled = answer
                    break
                }
                allowed += 1
                // Keeping on deciding, allows go on: stop once the log says it is failing.
                if !failClosed, allowed.isMultiple(of: 25), try await auditState() == "failing" { break }
            }
            #expect(allowed > 10, "the pipe took records first")
            let failing = try await eventually { try await auditState() == "failing" }
            #expect(failing)
            let later = try await ask()
            if failClosed {
                #expect(stalled?.reason == "audit_unavailable", "the allow that waited was withheld")
                #expect(later.reason == "audit_unavailable")
            } else {
                #expect(stalled == nil, "keep deciding: no allow withheld")
                #expect(later.allowed)
            }
            // Read the pipe from now on: answers wait for their records again.
            let drained = Drain(pipe.readEnd)
            let writing = try await eventually { try await auditState() == "writing" }
            #expect(writing)
            let again = try await ask()
            #expect(again.allowed)
            let id = try #require(again.id)
            // Answered once written; the reader thread may still be reading it.
            let read = try await eventually { drained.text.contains(id) }
            #expect(read)
            // The withheld allow: its record went with its block once the pipe was read, then
            // the denial it was answered with, under the same decision id.
            if failClosed, let withheld = stalled?.id {
                let both = try await eventually {
                    drained.text.components(separatedBy: "\n").filter { $0.contains(withheld) }.count == 2
                }
                #expect(both)
                let records = drained.text.components(separatedBy: "\n").filter { $0.contains(withheld) }
                #expect(records.first?.contains(#""decision":"allow""#) == true)
                #expect(records.last?.contains(#""reason":"audit_unavailable""#) == true)
            }
        }
    }

    @Test(arguments: [AuditDurability.written, .synced])
    func anUnwritableFileDeniesWithoutHanging(durability: AuditDurability) async throws {
        try await withSidecar(
            configure: {
                $0.audit.destinations = [.file("/dev/full")]
                $0.audit.durability = durability
            }
        ) { sidecar in
            let response = try await sidecar.callTool("get_todo", token: sidecar.token("reader"))
            #expect(response.status == .forbidden)
            #expect(response.header("X-Authz-Reason") == "audit_unavailable")
            let decided = try sidecar.json(
                try await sidecar.send(
                    .post, "/v1/decide", body: #"{"server":"todos","token":"\#(sidecar.token("reader"))","method":"tools/call","name":"get_todo"}"#
                )
            )
            #expect(decided["reason"] as? String == "audit_unavailable")
        }
    }
}
