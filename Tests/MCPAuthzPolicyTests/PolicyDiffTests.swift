import Foundation
import Testing

@testable import MCPAuthzPolicy

/// `mcp-authz diff`: hand-written cases, and random small policies checked against brute force
/// (every caller and operation of a finite universe decided by both policies).
@Suite struct PolicyDiffTests {
    static let header = """
        version: 1
        issuers:
          - id: one
            issuer: https://one.test/
          - id: two
            issuer: https://two.test/
        servers:
          - id: todos
            match: { path_prefix: /mcp }
            resource: https://mcp.test/mcp
            issuers: [one, two]
            rules:

        """

    static func diff(_ old: String, _ new: String) throws -> (PolicyDiff, PolicySnapshot, PolicySnapshot) {
        let before = try compile(header + old), after = try compile(header + new)
        return (PolicyDiff(old: before, new: after), before, after)
    }

    @Test func identicalPoliciesDifferNowhereAndReorderingChangesNoDecision() throws {
        let rules = """
                  - name: a
                    when: { scopes: [read] }
                    allow: { tools: [get] }
                  - name: b
                    when: { groups: [admins] }
                    deny: { tools: ["delete_*"] }
            """
        let reordered = """
                  - name: b renamed
                    when: { groups: [admins] }
                    deny: { tools: ["delete_*"] }
                  - name: a
                    when: { scopes: [read] }
                    allow: { tools: [get] }
            """
        #expect(try Self.diff(rules, rules).0.changes.isEmpty)
        let (diff, _, _) = try Self.diff(rules, reordered)
        #expect(diff.changes.isEmpty && diff.operationsCompared == 0)
    }

    @Test func aScopeEditIsReportedWithWitnessesAndRules() throws {
        let (diff, _, new) = try Self.diff(
            "      - name: readers\n        when: { scopes: [read] }\n        allow: { tools: [get_todo] }\n",
            "      - name: readers\n        when: { scopes: [read:todos] }\n        allow: { tools: [get_todo] }\n"
        )
        let changes = diff.changes.filter { $0.operation.method == "tools/call" }
        // Callers with `read` and not `read:todos` lose it; with `read:todos` and not `read` gain it; per issuer.
        #expect(changes.count == 4)
        for change in changes {
            #expect(change.operation.target?.name == "get_todo" && change.standsFor == nil)
            let lost = change.before.isAllowed
            #expect(change.witness.scopes == (lost ? ["read"] : ["read:todos"]))
            #expect((lost ? change.before.rule : change.after.rule) == "readers")
            #expect(change.caller.contains(lost ? "scopes read, not read:todos" : "scopes read:todos, not read"))
            // The witness's token claims, read by the policy's issuer, show the change.
            let claims = change.witness.tokenClaims(readBy: new.issuersByURL[change.witness.issuer])
            let identity = try #require(new.identity(fromClaims: claims))
            #expect(new.decide(DecisionInput(serverID: "todos", identity: identity, operation: change.operation)).isAllowed == !lost)
        }
    }

    @Test func aPatternEditIsFoundThroughAnExampleName() throws {
        let (diff, _, _) = try Self.diff(
            "      - name: no deletes\n        deny: { tools: [\"delete_*\"] }\n      - name: all\n        allow: { tools: [\"*\"] }\n",
            "      - name: no deletes\n        deny: { tools: [\"delete_*\", \"drop_*\"] }\n      - name: all\n        allow: { tools: [\"*\"] }\n"
        )
        let tools = Set(diff.changes.compactMap { $0.operation.target?.name })
        // One example of the new pattern: its other examples, and where it overlaps `*`, are
        // matched by the same rules, so decided alike and compared once.
        #expect(tools == ["drop_"])
        #expect(diff.changes.allSatisfy { $0.standsFor?.hasPrefix("'drop_*'") == true && $0.before.isAllowed && $0.after.rule == "no deletes" })
    }

    @Test func aBoundThatCutsTheSearchIsSaid() throws {
        let many = (0..<20).map { "s\($0)" }.joined(separator: ", ")
        let old = "      - name: r\n        when: { any_scopes: [\(many)] }\n        allow: { tools: [t] }\n"
        let before = try compile(Self.header + old), after = try compile(Self.header + old.replacingOccurrences(of: "s19", with: "s20"))
        let diff = PolicyDiff(old: before, new: after, maxCallers: 1000)
        #expect(diff.cutShort.count >= 1 && diff.cutShort.allSatisfy { $0.contains("1000 caller classes tried of") })
    }

    @Test func anIssuerThatReadsTokensDifferentlyIsNoted() throws {
        let before = try compile(Self.header + "      - name: r\n        allow: { tools: [t] }\n")
        let after = try compile(
            Self.header.replacingOccurrences(of: "issuer: https://two.test/", with: "issuer: https://two.test/\n    groups_claim: roles")
                + "      - name: r\n        allow: { tools: [t] }\n"
        )
        let diff = PolicyDiff(old: before, new: after)
        #expect(diff.notes.count == 1 && diff.notes[0].contains("groups_claim groups → roles"))
        #expect(diff.changes.isEmpty && diff.operationsCompared > 0)
    }

    // MARK: Brute force

    typealias Random = IndexEquivalenceTests.SeededGenerator

    static let tools = ["a", "b", "ab", "ba", "abb", "delete_a", "x"]
    static let toolPatterns = ["a", "b", "ab", "a*", "*b", "?b", "delete_*", "*", "a?b"]

    /// One random rule over a small universe of names and values.
    static func randomRule(_ index: Int, _ random: inout Random) -> String {
        func some(_ values: [String], _ random: inout Random) -> String {
            let count = Int.random(in: 1...min(2, values.count), using: &random)
            return "[" + values.shuffled(using: &random).prefix(count).map { "\"\($0)\"" }.joined(separator: ", ") + "]"
        }
        let options: [(inout Random) -> String] = [
            { "scopes: \(some(["s1", "s2", "s3"], &$0))" }, { "any_scopes: \(some(["s1", "s2", "s3"], &$0))" },
            { "groups: \(some(["g1", "g2"], &$0))" }, { "emails: \(some(["a@x.test", "b@x.test"], &$0))" },
            { "email_domains: \(some(["x.test", "y.test"], &$0))" }, { "subjects: \(some(["u1", "u2"], &$0))" },
            { "clients: \(some(["c1"], &$0))" }, { "issuers: \(some(["one", "two"], &$0))" },
            { "claims: { tenant: \(some(["t1", "t2"], &$0)) }" }, { "not: { groups: \(some(["g1", "g2"], &$0)) }" },
            { "not: { scopes: \(some(["s1", "s2"], &$0)) }" },
            { _ in "arguments: { amount: { max: 10 } }" }, { _ in "arguments: { project: \"acme-*\" }" },
        ]
        var conditions: [String] = []
        // Distinct keys: the option at index 9 and 10 are both `not:`, 11 and 12 both `arguments:`.
        var keys = Set<Int>()
        for _ in 0..<Int.random(in: 0...2, using: &random) {
            let index = Int.random(in: 0..<options.count, using: &random)
            guard keys.insert(min(index, index >= 11 ? 11 : index >= 9 ? 9 : index)).inserted else { continue }
            conditions.append(options[index](&random))
        }
        let effect = Int.random(in: 0..<4, using: &random) == 0 ? "deny" : "allow"
        let target =
            Int.random(in: 0..<5, using: &random) == 0
            ? "methods: \(some(["ping", "tools/*", "initialize"], &random))" : "tools: \(some(toolPatterns, &random))"
        let when = conditions.isEmpty ? "" : "        when: { \(conditions.joined(separator: ", ")) }\n"
        return "      - name: rule \(index)\n\(when)        \(effect): { \(target) }\n"
    }

    /// Every caller of the universe: issuers (one unknown), scope and group sets, emails,
    /// subjects, clients, claim values and arguments, including arguments not seen.
    static func universe() -> [Caller] {
        var callers: [Caller] = []
        let argumentChoices: [[String: ClaimValue]?] = [
            nil, ["amount": .integer(5)], ["amount": .integer(50), "project": .string("acme-1")],
            ["project": .string("other"), "amount": .string("ten")],
        ]
        for issuer in ["https://one.test/", "https://two.test/", "https://three.test/"] {
            for scopes in [[], ["s1"], ["s2", "s3"], ["s1", "s2", "s3"], ["s3"]] as [Set<String>] {
                for groups in [[], ["g1"], ["g1", "g2"]] as [Set<String>] {
                    for email in [nil, "a@x.test", "c@x.test", "d@y.test"] {
                        for subject in ["u1", "u3"] {
                            for client in [nil, "c1"] {
                                for tenant in [nil, .string("t1"), .array([.string("t1"), .string("t2")])] as [ClaimValue?] {
                                    for arguments in argumentChoices {
                                        var caller = Caller(issuer: issuer, subject: subject, email: email, client: client)
                                        caller.scopes = scopes
                                        caller.groups = groups
                                        if let tenant { caller.claims["tenant"] = tenant }
                                        caller.arguments = arguments
                                        callers.append(caller)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return callers
    }

    @Test func everyDifferenceBruteForceFindsDiffReports() throws {
        let callers = Self.universe()
        let operations =
            Self.tools.map { MCPOperation(method: "tools/call", name: $0) }
            + ["ping", "initialize", "tools/list"].map {
                MCPOperation(method: $0)
            }
        var random = Random(state: 20_261_205)
        var differencesSeen = 0
        var rounds = 0
        for round in 0..<24 {
            let seed = random.state
            let old = (0..<Int.random(in: 1...4, using: &random)).map { Self.randomRule($0, &random) }.joined()
            var newRules = old.components(separatedBy: "      - name: ").filter { !$0.isEmpty }.map { "      - name: " + $0 }
            // An edit: a rule replaced, added or removed.
            switch Int.random(in: 0..<3, using: &random) {
            case 0: newRules[Int.random(in: 0..<newRules.count, using: &random)] = Self.randomRule(100, &random)
            case 1: newRules.append(Self.randomRule(101, &random))
            default: newRules.remove(at: Int.random(in: 0..<newRules.count, using: &random))
            }
            let new = newRules.joined()
            // A rule validation refuses (one that can never match) makes the round a new one.
            guard let (diff, before, after) = try? Self.diff(old, new.isEmpty ? "      - name: nothing\n        deny: { methods: [none] }\n" : new)
            else { continue }
            rounds += 1
            #expect(diff.cutShort.isEmpty, "round \(round)")
            // Every reported change is a real one.
            for change in diff.changes {
                #expect(change.before.isAllowed == change.witness.decide(change.operation, server: "todos", in: before).isAllowed)
                #expect(change.before.isAllowed != change.witness.decide(change.operation, server: "todos", in: after).isAllowed)
            }
            // Every real change is reported: some change has the same rules matching its
            // operation in both policies and a witness of the caller's class.
            let lookups = (old: RuleLookup(before.policy.servers[0]), new: RuleLookup(after.policy.servers[0]))
            var missed = 0
            for operation in operations {
                let rules = (old: lookups.old.matching(operation), new: lookups.new.matching(operation))
                // Changes of operations the same rules match share one division of callers.
                let candidates = diff.changes.filter { $0.rules.old == rules.old && $0.rules.new == rules.new }
                let space = candidates.first?.space
                let classes = Set(
                    candidates.map { $0.space.signature(of: $0.witness, in: before) + [0xEE] + $0.space.signature(of: $0.witness, in: after) })
                for caller in callers {
                    let was = caller.decide(operation, server: "todos", in: before).isAllowed
                    let now = caller.decide(operation, server: "todos", in: after).isAllowed
                    guard was != now else { continue }
                    differencesSeen += 1
                    let covered =
                        space.map { classes.contains($0.signature(of: caller, in: before) + [0xEE] + $0.signature(of: caller, in: after)) } ?? false
                    if !covered {
                        missed += 1
                        if missed == 1 {
                            Issue.record("round \(round) (seed \(seed)): \(operation) for \(caller) not reported\nold:\n\(old)\nnew:\n\(new)")
                        }
                    }
                }
            }
        }
        // The rounds must have found differences for the check to mean anything.
        #expect(rounds >= 16 && differencesSeen > 1000, "\(rounds) rounds, \(differencesSeen) differences")
    }
}
