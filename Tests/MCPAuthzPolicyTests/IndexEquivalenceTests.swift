import Testing

@testable import MCPAuthzPolicy

/// The indexed engine must decide exactly as the plain reading of the rules does: visit every
/// rule in order, first matching deny wins, else first matching allow. Random policies and
/// callers, from a fixed seed so a failure reproduces.
@Suite struct IndexEquivalenceTests {
    struct SeededGenerator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static let tools = ["a", "b", "c", "del_x", "del_y"]
    static let emails = ["u1@x.com", "u2@x.com", "u3@y.com"]
    static let groups = ["g1", "g2", "g3"]
    static let scopes = ["s1", "s2", "s3"]

    func randomRule(_ n: Int, _ rng: inout SeededGenerator) -> String {
        func pick(_ list: [String]) -> String { list.randomElement(using: &rng)! }
        var conditions: [String] = []
        if Bool.random(using: &rng) { conditions.append("scopes: [\(pick(Self.scopes))]") }
        if Int.random(in: 0..<4, using: &rng) == 0 { conditions.append("any_scopes: [\(pick(Self.scopes)), \(pick(Self.scopes))]") }
        if Int.random(in: 0..<3, using: &rng) == 0 { conditions.append("emails: [\(pick(Self.emails))]") }
        if Int.random(in: 0..<3, using: &rng) == 0 { conditions.append("groups: [\(pick(["g1", "g2"]))]") }
        // Never together with `emails`, and `not` only on g3, so no rule is unreachable.
        if conditions.allSatisfy({ !$0.hasPrefix("emails") }), Int.random(in: 0..<4, using: &rng) == 0 {
            conditions.append("email_domains: [\(pick(["x.com", "y.com"]))]")
        }
        if Int.random(in: 0..<4, using: &rng) == 0 { conditions.append("not: { groups: [g3] }") }
        if Int.random(in: 0..<4, using: &rng) == 0 { conditions.append("arguments: { amount: { max: 50 } }") }
        let target: String
        switch Int.random(in: 0..<4, using: &rng) {
        case 0: target = "methods: [\"tools/*\"]"
        case 1: target = "tools: [\"del_*\"]"
        default: target = "tools: [\(pick(Self.tools))]"
        }
        let effect = Int.random(in: 0..<4, using: &rng) == 0 ? "deny" : "allow"
        let when = conditions.isEmpty ? "" : "\n        when: { \(conditions.joined(separator: ", ")) }"
        return "      - name: r\(n)\(when)\n        \(effect): { \(target) }\n"
    }

    /// The plain reading of the rules, with no index.
    func referenceDecision(_ server: CompiledServer, _ identity: Identity, _ operation: MCPOperation) -> (Decision.Effect, String?) {
        let applicable = server.rules.filter { $0.targets.match(operation) != nil && $0.holds(for: identity, operation.arguments) }
        if let deny = applicable.first(where: { $0.effect == .deny }) { return (.deny, deny.name) }
        if let allow = applicable.first { return (.allow, allow.name) }
        return (.deny, nil)
    }

    @Test(arguments: 0..<20)
    func indexedDecisionsEqualThePlainReading(seed: UInt64) throws {
        var rng = SeededGenerator(state: seed)
        let rules = (0..<Int.random(in: 1...25, using: &rng)).map { randomRule($0, &rng) }.joined()
        let snapshot = try compile(policy(rules: rules))
        let server = try #require(snapshot.servers["srv"])
        for _ in 0..<200 {
            let identity = Identity.caller(
                email: Bool.random(using: &rng) ? Self.emails.randomElement(using: &rng) : nil,
                scopes: Set(Self.scopes.filter { _ in Bool.random(using: &rng) }),
                groups: Set(Self.groups.filter { _ in Bool.random(using: &rng) })
            )
            let arguments: [MCPArguments] = [
                .unavailable, .known([:]), .known(["amount": .integer(10)]), .known(["amount": .integer(99)]),
                .known(["amount": .string("10")]),
            ]
            let operation = MCPOperation(
                method: "tools/call", name: Self.tools.randomElement(using: &rng), arguments: arguments.randomElement(using: &rng)!
            )
            let decision = snapshot.decide(DecisionInput(serverID: "srv", identity: identity, operation: operation))
            let reference = referenceDecision(server, identity, operation)
            #expect(decision.effect == reference.0 && decision.rule == reference.1, "seed \(seed): \(operation) for \(identity)")
        }
    }
}
