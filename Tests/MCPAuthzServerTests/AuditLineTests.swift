import Foundation
import MCPAuthzPolicy
import MCPAuthzServer
import Testing

/// The audit line format: escaping, bounds, the hash chain and its verification.
@Suite struct AuditLineTests {
    static func decision(subject: String, name: String = "get_todo") -> AuditEntry {
        AuditEntry(
            time: 1_795_312_017.123,
            .decision(
                DecisionRecord(
                    decisionID: "d1", requestID: "r1", endpoint: "auth", serverID: "todos", httpMethod: "POST", httpPath: "/mcp",
                    operations: [MCPOperation(method: "tools/call", name: name)], issuer: "https://idp/", subject: subject, email: nil,
                    clientID: nil, scopes: ["b", "a"], allowed: true, status: 200, reason: "allowed", rule: "r", policyRevision: "rev",
                    latencyMicroseconds: 12, tokenFingerprint: "0011223344556677"
                )
            )
        )
    }

    static func chain(_ entries: [AuditEntry]) -> [[UInt8]] {
        var previous = AuditLine.genesis
        return entries.map { entry in
            var line: [UInt8] = []
            previous = AuditLine.append(entry, previous: previous, to: &line)
            #expect(line.removeLast() == UInt8(ascii: "\n"))
            return line
        }
    }

    /// The writer appends a whole batch to one buffer: a line must be added in place, never by
    /// copying what is already there (that made a backlog of records quadratic to write).
    @Test func appendingALineKeepsTheBatchInPlace() {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 20)
        let before = buffer.withUnsafeBufferPointer { $0.baseAddress }
        var previous = AuditLine.genesis
        for n in 0..<200 { previous = AuditLine.append(Self.decision(subject: "user-\(n)"), previous: previous, to: &buffer) }
        #expect(buffer.withUnsafeBufferPointer { $0.baseAddress } == before)
        #expect(buffer.split(separator: UInt8(ascii: "\n")).count == 200)
    }

    static func verify(_ lines: [[UInt8]]) -> Int? {
        var previous: String?
        for (index, line) in lines.enumerated() {
            let (problem, hash) = AuditLine.problem(in: line, previous: previous)
            if problem != nil { return index + 1 }
            previous = hash
        }
        return nil
    }

    @Test func aRecordIsOneLineOfJSONWithEveryField() throws {
        let line = Self.chain([Self.decision(subject: "alice")])[0]
        #expect(!line.contains(UInt8(ascii: "\n")))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
        for field in [
            "time", "event", "decision_id", "request_id", "endpoint", "server", "http_method", "http_path", "mcp_method", "mcp_name", "issuer",
            "subject", "email", "client_id", "scopes", "decision", "status", "reason", "rule", "policy_revision", "latency_us",
            "token_fingerprint", "prev", "hash",
        ] {
            #expect(object.keys.contains(field), "\(field)")
        }
        #expect(object["time"] as? String == "2026-11-22T01:46:57.123Z")
        #expect(object["prev"] as? String == AuditLine.genesis)
    }

    @Test func replayAttributesAreKeptBounded() throws {
        guard case .decision(var record) = Self.decision(subject: "alice").kind else { return }
        record.groups = ["b", "a"] + (0..<500).map { "g\($0)" }
        record.claims = [("tenant.id", .string(String(repeating: "x", count: 5000))), ("level", .integer(3)), ("absent", nil), ("nulled", .null)]
        record.emailVerified = false
        record.wouldDecide = DryRunVerdict(effect: .allow, rule: "on trial")
        let line = Self.chain([AuditEntry(time: 1, .decision(record))])[0]
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
        #expect((object["groups"] as? [String])?.count == AuditLine.maxListCount)
        let claims = try #require(object["claims"] as? [String: Any])
        #expect(claims["level"] as? String == "3")
        #expect((claims["tenant.id"] as? String)?.utf8.count == AuditLine.maxValueBytes)
        // A claim the token lacks is null; a claim whose value is JSON null is the text "null".
        #expect(claims["absent"] is NSNull)
        #expect(claims["nulled"] as? String == "null")
        #expect(object["email_verified"] as? Bool == false)
        #expect(object["would_allow_by"] as? String == "on trial")
    }

    @Test func newlinesAndQuotesInValuesCannotForgeARecord() throws {
        let forged = "x\"}\n{\"event\":\"decision\",\"decision\":\"allow\""
        let line = Self.chain([Self.decision(subject: forged, name: "a\r\nb")])[0]
        #expect(!line.contains(UInt8(ascii: "\n")) && !line.contains(UInt8(ascii: "\r")))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
        #expect(object["subject"] as? String == forged)
        #expect(object["mcp_name"] as? String == "a\r\nb")
    }

    @Test func longValuesAreCutAtACharacterBoundary() throws {
        let line = Self.chain([Self.decision(subject: String(repeating: "é", count: 2000))])[0]
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
        let subject = try #require(object["subject"] as? String)
        #expect(subject.utf8.count == AuditLine.maxValueBytes)
        #expect(subject.allSatisfy { $0 == "é" })
    }

    @Test func anIntactChainVerifies() {
        let lines = Self.chain((0..<50).map { Self.decision(subject: "user-\($0)") })
        #expect(Self.verify(lines) == nil)
    }

    @Test func everyFlippedByteIsFoundAtItsLine() {
        let lines = Self.chain((0..<5).map { Self.decision(subject: "user-\($0)") })
        for position in 0..<lines[2].count {
            var tampered = lines
            tampered[2][position] ^= 0x01
            #expect(Self.verify(tampered) == 3, "byte \(position)")
        }
    }

    @Test func removedOrReorderedRecordsBreakTheNextLine() {
        let lines = Self.chain((0..<5).map { Self.decision(subject: "user-\($0)") })
        var removed = lines
        removed.remove(at: 2)
        #expect(Self.verify(removed) == 3)
        var swapped = lines
        swapped.swapAt(1, 3)
        #expect(Self.verify(swapped) == 2)
    }

    @Test(arguments: [
        (0.0, "1970-01-01T00:00:00.000Z"), (951_782_400.5, "2000-02-29T00:00:00.500Z"), (1_795_312_017.999, "2026-11-22T01:46:57.999Z"),
        (-1.0, "1969-12-31T23:59:59.000Z"), (4_102_444_800, "2100-01-01T00:00:00.000Z"),
    ])
    func timestamps(seconds: Double, text: String) {
        #expect(RFC3339.milliseconds(seconds) == text)
    }
}

/// The buffer between requests and the writer.
@Suite struct AuditQueueTests {
    static func item(_ n: Int) -> AuditQueue.Item {
        .entry(AuditEntry(time: Double(n), .event(.auditReopen)))
    }

    @Test func fullQueueMakesProducersWaitUntilTheWriterTakes() async {
        let queue = AuditQueue(capacity: 2)
        #expect(queue.offer(Self.item(1)) == 1)
        #expect(queue.offer(Self.item(2)) == 2)
        #expect(queue.offer(Self.item(3)) == nil)
        async let pushed = queue.push(Self.item(3)) { true }
        try? await Task.sleep(for: .milliseconds(50))
        #expect(queue.count == 2)
        let first = await queue.next()
        #expect(first?.count == 2)
        // Positions count what was added, in order: a refused offer takes none.
        #expect(await pushed == 3)
        #expect(await queue.next()?.count == 1)
        #expect(queue.offer(Self.item(4), force: true) == 4)
    }

    @Test func producerStopsWaitingWhenToldNotTo() async {
        let queue = AuditQueue(capacity: 1)
        queue.offer(Self.item(1))
        let gaveUp = await queue.push(Self.item(2)) { false }
        #expect(gaveUp == nil)
    }

    @Test func closeDrainsThenEnds() async {
        let queue = AuditQueue(capacity: 10)
        queue.offer(Self.item(1))
        queue.close()
        #expect(await queue.next()?.count == 1)
        #expect(await queue.next() == nil)
    }

    @Test func waitingWriterIsWokenByAnOffer() async {
        let queue = AuditQueue(capacity: 10)
        async let taken = queue.next()
        try? await Task.sleep(for: .milliseconds(20))
        queue.offer(Self.item(1))
        #expect(await taken?.count == 1)
    }
}
