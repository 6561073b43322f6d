import Testing

@testable import MCPAuthzPolicy

/// `limits:`: the bucket arithmetic, which limits a request costs, and what validation refuses.
@Suite struct LimitTests {
    static func at(_ monotonic: Double, wall: Double = 1_796_000_000) -> LimitTime { LimitTime(monotonic: monotonic, wall: wall) }

    // MARK: Bucket arithmetic

    @Test func aNewKeyHasItsBurstThenRefillsAtTheRate() {
        let spec = LimitSpec(perSecond: 2, burst: 5, quota: nil)
        var bucket = LimitBucket(spec, at: Self.at(100))
        for _ in 0..<5 { #expect(bucket.take(1, spec, at: Self.at(100)) == .taken) }
        // Empty: one token comes in half a second.
        #expect(bucket.take(1, spec, at: Self.at(100)) == .refused(retryAfter: 1))
        #expect(bucket.take(1, spec, at: Self.at(100.4)) == .refused(retryAfter: 1))
        #expect(bucket.take(1, spec, at: Self.at(100.5)) == .taken)
        // Refill stops at the burst: after an hour, five again and no more.
        for _ in 0..<5 { #expect(bucket.take(1, spec, at: Self.at(3700)) == .taken) }
        #expect(bucket.take(1, spec, at: Self.at(3700)) == .refused(retryAfter: 1))
    }

    @Test func retryAfterIsTheWholeSecondsUntilThereIsRoom() {
        let spec = LimitSpec(perSecond: 20.0 / 3600, burst: 20, quota: nil)
        var bucket = LimitBucket(spec, at: Self.at(0))
        #expect(bucket.take(20, spec, at: Self.at(0)) == .taken)
        // 20 an hour: one every 180 s.
        #expect(bucket.take(1, spec, at: Self.at(0)) == .refused(retryAfter: 180))
        #expect(bucket.take(1, spec, at: Self.at(179.5)) == .refused(retryAfter: 1))
        #expect(bucket.take(2, spec, at: Self.at(180)) == .refused(retryAfter: 180))
    }

    @Test func aClockGoingBackwardsRefillsNothing() {
        let spec = LimitSpec(perSecond: 1, burst: 3, quota: nil)
        var bucket = LimitBucket(spec, at: Self.at(1000))
        for _ in 0..<3 { #expect(bucket.take(1, spec, at: Self.at(1000)) == .taken) }
        #expect(bucket.take(1, spec, at: Self.at(10)) == .refused(retryAfter: 1))
        #expect(bucket.updated == 1000 && bucket.tokens == 0)
        // Back at the time it had reached: still nothing; a second later, one.
        #expect(bucket.take(1, spec, at: Self.at(1000)) == .refused(retryAfter: 1))
        #expect(bucket.take(1, spec, at: Self.at(1001)) == .taken)
    }

    @Test func theQuotaIsPerUTCDayAndSaysWhenMidnightIs() {
        let spec = LimitSpec(perSecond: nil, burst: 0, quota: 3)
        let midnight = 1_796_083_200.0  // 2026-12-01T00:00:00Z
        #expect(midnight.truncatingRemainder(dividingBy: 86_400) == 0)
        var bucket = LimitBucket(spec, at: Self.at(0, wall: midnight - 10))
        for _ in 0..<3 { #expect(bucket.take(1, spec, at: Self.at(0, wall: midnight - 10)) == .taken) }
        #expect(bucket.take(1, spec, at: Self.at(1, wall: midnight - 10)) == .refused(retryAfter: 10))
        #expect(bucket.take(1, spec, at: Self.at(2, wall: midnight - 0.5)) == .refused(retryAfter: 1))
        // The next UTC day starts from zero.
        for _ in 0..<3 { #expect(bucket.take(1, spec, at: Self.at(3, wall: midnight)) == .taken) }
        #expect(bucket.take(1, spec, at: Self.at(3, wall: midnight + 1)) == .refused(retryAfter: 86_399))
        // A wall clock set back into the previous day does not reset the count.
        #expect(bucket.take(1, spec, at: Self.at(4, wall: midnight - 100)) == .refused(retryAfter: 100))
    }

    @Test func theRateAndTheQuotaMustBothHaveRoomAndGivingBackRestores() {
        let spec = LimitSpec(perSecond: 100, burst: 10, quota: 12)
        var bucket = LimitBucket(spec, at: Self.at(0))
        #expect(bucket.take(10, spec, at: Self.at(0)) == .taken)
        #expect(bucket.take(1, spec, at: Self.at(0)) == .refused(retryAfter: 1))
        #expect(bucket.take(2, spec, at: Self.at(1)) == .taken)
        // The rate has room again, the day's quota of 12 does not.
        #expect(bucket.take(1, spec, at: Self.at(2)) != .taken)
        bucket.giveBack(2, spec)
        #expect(bucket.used == 10)
        #expect(bucket.take(2, spec, at: Self.at(2)) == .taken)
    }

    // MARK: What a request costs

    static let limited = policy(
        rules: """
                  - name: all tools
                    allow: { methods: [initialize], tools: ["*"] }
            """,
        serverExtra: """

                limits:
                  - name: per caller
                    key: [subject]
                    rate: 10/s
                    burst: 2
                  - name: generation outside staff
                    when: { not: { groups: [staff] } }
                    applies_to: { tools: [generateImage] }
                    key: [subject, tool]
                    rate: 20/h
                    quota: 100/day
                  - name: per address
                    applies_to: { methods: [initialize] }
                    key: [client_ip, claim:org.id]
                    rate: 1/min
            """
    )

    @Test func eachOperationCostsEachLimitThatAppliesOneUnit() throws {
        let snapshot = try compile(Self.limited)
        let server = try #require(snapshot.servers["srv"])
        let generate = MCPOperation(method: "tools/call", name: "generateImage")
        let alice = Identity.caller(subject: "alice", claims: ["org": .object(["id": .integer(7)])])
        let charges = server.charges(alice, [generate, generate, MCPOperation(method: "tools/call", name: "describe")], clientIP: nil)
        #expect(charges.map(\.limit) == ["per caller", "generation outside staff"])
        #expect(charges.map(\.units) == [3, 2])
        #expect(charges[1].key == LimitKey(["srv", "generation outside staff", "alice", "generateImage"]))
        #expect(server.charges(Identity.caller(subject: "s", groups: ["staff"]), [generate], clientIP: nil).map(\.limit) == ["per caller"])
        let initialize = server.charges(alice, [MCPOperation(method: "initialize")], clientIP: "192.0.2.1")
        #expect(initialize.map(\.key) == [LimitKey(["srv", "per caller", "alice"]), LimitKey(["srv", "per address", "192.0.2.1", "7"])])
        #expect(server.limits[2].keyValues(alice, MCPOperation(method: "initialize"), clientIP: "192.0.2.1") == ["192.0.2.1", "7"])
        // A request that names no operation (GET, DELETE) counts only against limits without applies_to.
        #expect(server.charges(alice, [], clientIP: nil).map(\.limit) == ["per caller"])
    }

    @Test func theLedgerTakesEveryLimitOrNone() throws {
        let snapshot = try compile(Self.limited)
        let server = try #require(snapshot.servers["srv"])
        var ledger = LimitLedger()
        let bob = Identity.caller(subject: "bob")
        let generate = [MCPOperation(method: "tools/call", name: "generateImage")]
        #expect(ledger.admit(server.charges(bob, generate, clientIP: nil), at: Self.at(0)) == nil)
        #expect(ledger.admit(server.charges(bob, generate, clientIP: nil), at: Self.at(0)) == nil)
        #expect(ledger.admit(server.charges(bob, generate, clientIP: nil), at: Self.at(0))?.limit == "per caller")
        // The refused request took nothing from the generation limit: 18 of its 20 are left.
        for second in 1...9 {
            #expect(ledger.admit(server.charges(bob, generate + generate, clientIP: nil), at: Self.at(Double(second))) == nil)
        }
        #expect(ledger.admit(server.charges(bob, generate, clientIP: nil), at: Self.at(20))?.limit == "generation outside staff")
    }

    // MARK: Validation

    func problems(_ limits: String, rules: String = "      - name: tools\n        allow: { tools: [a, \"b_*\"] }\n") throws -> [String] {
        try errors(policy(rules: rules, serverExtra: "\n    limits:\n" + limits))
    }

    @Test func validationNamesEachProblemWhereItIs() throws {
        #expect(
            try problems("      - name: x\n        key: [subjct]\n        rate: 1/s\n") == [
                "policy.yaml:12:15: unknown key kind 'subjct' in limit 'x'; kinds: subject, client, issuer, email, client_ip, tool, method, claim:<path> (did you mean 'subject'?)"
            ])
        #expect(
            try problems("      - name: x\n        key: [subject]\n        rate: 0/s\n") == [
                "policy.yaml:13:15: rate 0/s lets nothing through; to refuse, write a deny rule"
            ])
        #expect(
            try problems("      - name: x\n        key: [subject]\n        rate: 5000000/s\n") == [
                "policy.yaml:13:15: rate 5000000/s is more than 1000000/s, which limits nothing"
            ])
        #expect(
            try problems("      - name: x\n        key: [subject]\n        rate: 10/day\n") == [
                "policy.yaml:13:15: rate must be N/s, N/min or N/h (such as 10/s), found '10/day'"
            ])
        #expect(
            try problems("      - name: x\n        key: [subject]\n        quota: 0/day\n") == [
                "policy.yaml:13:16: quota 0/day must allow between 1 and 1000000000 a day"
            ])
        #expect(
            try problems("      - name: x\n        key: [subject]\n") == [
                "policy.yaml:11:9: limit 'x' has neither rate nor quota, so it limits nothing"
            ])
        #expect(
            try problems("      - name: x\n        key: [subject]\n        rate: 1/s\n        applies_to: {}\n") == [
                "policy.yaml:14:21: applies_to names nothing; list methods, tools, prompts or resources"
            ])
    }

    @Test func limitsThatCanNeverApplyAreRefused() throws {
        #expect(
            try problems("      - name: x\n        key: [subject]\n        rate: 1/s\n        applies_to: { tools: [c, \"b_1\", \"b*\"] }\n") == [
                "policy.yaml:14:31: limit 'x' can never apply to 'c': no rule of server 'srv' allows it, and only allowed requests are limited"
            ])
        #expect(
            try problems("      - name: x\n        when: { groups: [g], not: { groups: [g] } }\n        key: [subject]\n        rate: 1/s\n") == [
                "policy.yaml:12:15: limit 'x' can never apply: every value its groups accepts is excluded by its not"
            ])
        let twice = try problems(
            "      - name: x\n        key: [subject]\n        rate: 1/s\n      - name: x\n        key: [client]\n        rate: 1/s\n")
        #expect(twice == ["policy.yaml:14:15: limit name 'x' is already used in server 'srv' at policy.yaml:11:15"])
    }
}
