import Foundation
import Testing

@testable import MCPAuthzPolicy

/// `arguments:` conditions: every matcher, typed comparison, and fail-closed evaluation (an
/// allow that cannot be evaluated does not apply; a deny that cannot be evaluated denies).
@Suite struct ArgumentConditionTests {
    /// A policy whose one allow rule for tool `t` has `when: { arguments: <arguments> }`.
    func allowing(_ arguments: String) throws -> PolicySnapshot {
        try compile(
            policy(
                rules: """
                          - name: guarded
                            when: { arguments: \(arguments) }
                            allow: { tools: [t] }
                    """
            )
        )
    }

    func call(_ snapshot: PolicySnapshot, _ arguments: MCPArguments, caller: Identity = .caller()) -> Decision {
        snapshot.decide(
            DecisionInput(serverID: "srv", identity: caller, operation: MCPOperation(method: "tools/call", name: "t", arguments: arguments)))
    }

    /// The decision for a call whose `params.arguments` is this JSON object.
    func call(_ snapshot: PolicySnapshot, json: String, caller: Identity = .caller()) throws -> Decision {
        guard case let .object(object) = try ClaimValue.parseJSON(Array(json.utf8)) else {
            Issue.record("not a JSON object: \(json)")
            return Decision(effect: .deny, status: 0, reason: .noMatchingRule)
        }
        return call(snapshot, .known(object), caller: caller)
    }

    @Test func aStringIsAPatternOnStringsOnly() throws {
        let s = try allowing(#"{ repo: "acme/*" }"#)
        #expect(try call(s, json: #"{"repo": "acme/widgets"}"#).isAllowed)
        #expect(try !call(s, json: #"{"repo": "evil/acme/x"}"#).isAllowed)
        // Unicode look-alike: a Cyrillic 'а' is another character.
        #expect(try !call(s, json: #"{"repo": "\u0430cme/x"}"#).isAllowed)
        // Not a string: cannot be compared, so the allow does not apply, and the reason says so.
        #expect(try call(s, json: #"{"repo": ["acme/x"]}"#).reason == .argumentsUnavailable)
        #expect(try call(s, json: #"{"repo": {"name": "acme/x"}}"#).reason == .argumentsUnavailable)
        #expect(try call(s, json: #"{}"#).reason == .noMatchingRule)
    }

    @Test func typedLiteralsNeverEqualAStringOfTheirText() throws {
        let number = try allowing("{ amount: 100 }")
        #expect(try call(number, json: #"{"amount": 100}"#).isAllowed)
        #expect(try call(number, json: #"{"amount": 100.0}"#).isAllowed)
        #expect(try call(number, json: #"{"amount": "100"}"#).reason == .argumentsUnavailable)
        #expect(try call(number, json: #"{"amount": 101}"#).reason == .noMatchingRule)
        let flag = try allowing("{ dry_run: true }")
        #expect(try call(flag, json: #"{"dry_run": true}"#).isAllowed)
        #expect(try call(flag, json: #"{"dry_run": "true"}"#).reason == .argumentsUnavailable)
        #expect(try !call(flag, json: #"{"dry_run": false}"#).isAllowed)
    }

    @Test func aListHoldsWhenAnyEntryDoes() throws {
        let s = try allowing(#"{ region: ["eu-*", 7] }"#)
        #expect(try call(s, json: #"{"region": "eu-west"}"#).isAllowed)
        #expect(try call(s, json: #"{"region": 7}"#).isAllowed)
        #expect(try !call(s, json: #"{"region": "us-east"}"#).isAllowed)
    }

    @Test func minAndMaxBoundNumbersOnly() throws {
        let s = try allowing("{ amount: { min: 1, max: 100 } }")
        #expect(try call(s, json: #"{"amount": 100}"#).isAllowed)
        #expect(try call(s, json: #"{"amount": 1}"#).isAllowed)
        #expect(try call(s, json: #"{"amount": 99.5}"#).isAllowed)
        #expect(try call(s, json: #"{"amount": 100.01}"#).reason == .noMatchingRule)
        #expect(try call(s, json: #"{"amount": 0}"#).reason == .noMatchingRule)
        #expect(try call(s, json: #"{"amount": 1e300}"#).reason == .noMatchingRule)
        #expect(try call(s, json: #"{"amount": -1e300}"#).reason == .noMatchingRule)
        #expect(try call(s, json: #"{"amount": "50"}"#).reason == .argumentsUnavailable)
        #expect(try call(s, json: #"{"amount": null}"#).reason == .argumentsUnavailable)
    }

    @Test func equalsOneOfAndPatternInTheMapForm() throws {
        let equals = try allowing(#"{ mode: { equals: "a*" } }"#)
        #expect(try call(equals, json: #"{"mode": "a*"}"#).isAllowed)
        #expect(try !call(equals, json: #"{"mode": "ab"}"#).isAllowed)
        let oneOf = try allowing(#"{ mode: { one_of: [read, 3] } }"#)
        #expect(try call(oneOf, json: #"{"mode": "read"}"#).isAllowed)
        #expect(try call(oneOf, json: #"{"mode": 3}"#).isAllowed)
        #expect(try !call(oneOf, json: #"{"mode": "write"}"#).isAllowed)
        let pattern = try allowing(#"{ path: { pattern: "/srv/*", max_length: 12 } }"#)
        #expect(try call(pattern, json: #"{"path": "/srv/a"}"#).isAllowed)
        #expect(try !call(pattern, json: #"{"path": "/srv/abcdefgh"}"#).isAllowed)
    }

    @Test func maxLengthCountsScalarsOfStringsAndElementsOfArrays() throws {
        let s = try allowing("{ tags: { max_length: 2 } }")
        #expect(try call(s, json: #"{"tags": "ab"}"#).isAllowed)
        #expect(try call(s, json: #"{"tags": "é€"}"#).isAllowed)
        #expect(try !call(s, json: #"{"tags": "abc"}"#).isAllowed)
        #expect(try call(s, json: #"{"tags": [1, 2]}"#).isAllowed)
        #expect(try !call(s, json: #"{"tags": [1, 2, 3]}"#).isAllowed)
        #expect(try call(s, json: #"{"tags": 12}"#).reason == .argumentsUnavailable)
    }

    @Test func presentTellsGivenFromAbsent() throws {
        let given = try allowing("{ ticket: { present: true } }")
        #expect(try call(given, json: #"{"ticket": null}"#).isAllowed)
        #expect(try !call(given, json: #"{}"#).isAllowed)
        let absent = try allowing("{ force: { present: false } }")
        #expect(try call(absent, json: #"{}"#).isAllowed)
        #expect(try !call(absent, json: #"{"force": false}"#).isAllowed)
    }

    @Test func claimComparesWithTheCallersOwnClaim() throws {
        let s = try allowing("{ customer_id: { claim: customer_id } }")
        let alice = Identity.caller(claims: ["customer_id": .string("c-1"), "tenants": .array([.string("c-1"), .string("c-2")])])
        #expect(try call(s, json: #"{"customer_id": "c-1"}"#, caller: alice).isAllowed)
        #expect(try !call(s, json: #"{"customer_id": "c-2"}"#, caller: alice).isAllowed)
        #expect(try !call(s, json: #"{"customer_id": "c-1"}"#, caller: .caller()).isAllowed)
        let anyTenant = try allowing("{ tenant: { claim: tenants } }")
        #expect(try call(anyTenant, json: #"{"tenant": "c-2"}"#, caller: alice).isAllowed)
        #expect(try !call(anyTenant, json: #"{"tenant": "c-3"}"#, caller: alice).isAllowed)
    }

    @Test func dottedPathsWalkIntoObjectsAndALiteralKeyWins() throws {
        let s = try allowing(#"{ "filter.owner": alice }"#)
        #expect(try call(s, json: #"{"filter": {"owner": "alice"}}"#).isAllowed)
        #expect(try call(s, json: #"{"filter.owner": "alice", "filter": {"owner": "bob"}}"#).isAllowed)
        #expect(try !call(s, json: #"{"filter.owner": "bob", "filter": {"owner": "alice"}}"#).isAllowed)
    }

    @Test func everyPathMustHold() throws {
        let s = try allowing("{ amount: { max: 100 }, currency: EUR }")
        #expect(try call(s, json: #"{"amount": 5, "currency": "EUR"}"#).isAllowed)
        #expect(try !call(s, json: #"{"amount": 5, "currency": "USD"}"#).isAllowed)
        // A failing path decides even when another cannot be evaluated (false wins).
        #expect(try call(s, json: #"{"amount": "5", "currency": "USD"}"#).reason == .noMatchingRule)
    }

    @Test func argumentsNotSeenFailClosed() throws {
        let s = try compile(
            policy(
                rules: """
                          - name: small refunds
                            when: { arguments: { amount: { max: 100 } } }
                            allow: { tools: [refund, audit] }
                          - name: no big refunds
                            when: { arguments: { amount: { min: 1000 } } }
                            deny: { tools: [refund] }
                          - name: audits for everyone
                            allow: { tools: [audit] }
                    """
            )
        )
        func decide(_ tool: String, _ arguments: MCPArguments) -> Decision {
            s.decide(
                DecisionInput(serverID: "srv", identity: .caller(), operation: MCPOperation(method: "tools/call", name: tool, arguments: arguments)))
        }
        // Not seen: the deny applies (it cannot be ruled out), naming itself.
        #expect(
            decide("refund", .unavailable)
                == Decision(effect: .deny, status: 403, reason: .argumentsUnavailable, rule: "no big refunds", argumentPaths: ["amount"]))
        // The allow that cannot be evaluated does not apply, but another allow may.
        #expect(decide("audit", .unavailable).rule == "audits for everyone")
        #expect(
            decide("refund", .known(["amount": .integer(50)]))
                == Decision(effect: .allow, status: 200, reason: .allowed, rule: "small refunds", argumentPaths: ["amount"]))
        #expect(decide("refund", .known(["amount": .integer(5000)])).rule == "no big refunds")
        #expect(decide("refund", .known(["amount": .integer(500)])).reason == .noMatchingRule)
        // A header that carries the argument is enough.
        #expect(decide("refund", MCPArguments(body: nil, headers: ["amount": .integer(50)])).isAllowed)
        // Type confusion on a deny: "5000" is not compared with min 1000, so the deny applies.
        #expect(decide("refund", .known(["amount": .string("5000")])).reason == .argumentsUnavailable)
    }

    @Test func underNotAnUnknownArgumentStaysUnknown() throws {
        let s = try compile(
            policy(
                rules: """
                          - name: everything but production
                            when: { not: { arguments: { env: prod } } }
                            allow: { tools: [deploy] }
                    """
            )
        )
        func decide(_ arguments: MCPArguments) -> Decision {
            s.decide(
                DecisionInput(
                    serverID: "srv", identity: .caller(), operation: MCPOperation(method: "tools/call", name: "deploy", arguments: arguments)))
        }
        #expect(decide(.known(["env": .string("dev")])).isAllowed)
        #expect(!decide(.known(["env": .string("prod")])).isAllowed)
        #expect(decide(.unavailable).reason == .argumentsUnavailable)
        #expect(decide(.known(["env": .integer(1)])).reason == .argumentsUnavailable)
    }

    @Test func identityConditionsStillDecideWithoutArguments() throws {
        let s = try compile(
            policy(
                rules: """
                          - name: admins only, small amounts
                            when: { groups: [admins], arguments: { amount: { max: 10 } } }
                            deny: { tools: [t] }
                          - name: all
                            allow: { tools: [t] }
                    """
            )
        )
        // The deny's group fails, so its unknown argument does not matter.
        #expect(call(s, .unavailable).isAllowed)
        #expect(call(s, .unavailable, caller: .caller(groups: ["admins"])).reason == .argumentsUnavailable)
    }

    @Test func theLoaderRefusesMatchersThatCannotWork() throws {
        let cases: [(String, String)] = [
            ("{ amount: { min: 10, max: 1 } }", "has min 10.0 above max 1.0, so it can never hold"),
            ("{ amount: { present: false, max: 1 } }", "present: false with other tests"),
            ("{ amount: { maximum: 1 } }", "maximum"),
            ("{ amount: { max: ten } }", "max must be a number"),
            ("{ amount: [] }", "lists no values"),
            ("{ amount: { one_of: [] } }", "one_of must be a non-empty list"),
            ("{ amount: null }", "expected a string, a number or a boolean"),
            ("{ amount: { max_length: -1 } }", "max_length"),
            ("{ amount: { claim: '' } }", "claim"),
            (#"{ repo: "acme/**" }"#, "bad pattern"),
            ("{}", "arguments is empty"),
            ("[a]", "arguments must be a mapping"),
        ]
        for (arguments, expected) in cases {
            let found = try errors(
                policy(
                    rules: """
                              - name: r
                                when: { arguments: \(arguments) }
                                allow: { tools: [t] }
                        """
                )
            )
            #expect(found.contains { $0.contains(expected) && $0.hasPrefix("policy.yaml:12:") }, "\(arguments): \(found)")
        }
    }

    @Test func explainShowsEachArgumentConditionAndWhy() throws {
        let s = try compile(
            policy(
                rules: """
                          - name: small refunds
                            when: { arguments: { amount: { max: 100 }, currency: EUR } }
                            allow: { tools: [t] }
                    """
            )
        )
        let denied = s.explain(
            DecisionInput(
                serverID: "srv", identity: .caller(),
                operation: MCPOperation(method: "tools/call", name: "t", arguments: .known(["amount": .integer(250), "currency": .string("EUR")])))
        ).render()
        #expect(denied.contains("condition fails on arguments: argument 'amount' does not match"), "\(denied)")
        #expect(denied.contains("argument 'amount' = 250, must be at most 100: fails"), "\(denied)")
        #expect(denied.contains("argument 'currency' = \"EUR\", must be a string matching 'EUR': holds"), "\(denied)")
        let unseen = s.explain(DecisionInput(serverID: "srv", identity: .caller(), operation: MCPOperation(method: "tools/call", name: "t"))).render()
        #expect(unseen.contains("decision: deny (403 arguments_unavailable)"), "\(unseen)")
        #expect(unseen.contains("arguments cannot be evaluated, so an allow does not apply"), "\(unseen)")
        #expect(unseen.contains("argument 'amount' = not seen, must be at most 100: cannot be evaluated"), "\(unseen)")
    }
}
