/// Why a decision came out as it did: every rule of the server, whether it applied to the
/// operation and, if it did, which condition held or failed.
package struct Explanation: Sendable {
    package struct RuleTrace: Sendable {
        package var position: Int
        package var name: String
        package var effect: Rule.Effect
        package var location: SourceLocation
        /// The pattern that made the rule apply to the operation; nil when it does not apply.
        package var appliedBy: Glob?
        /// The condition's value; nil when the rule does not apply to the operation.
        package var evaluation: CompiledCondition.Evaluation?
        /// A sentence on the failed condition.
        package var detail: String?
        /// Each argument condition of the rule and how it came out, when the rule applies.
        package var arguments: [String] = []

        /// The condition that failed.
        package var failed: CompiledCondition.Key? {
            if case let .fails(key)? = evaluation { return key }
            return nil
        }

        /// Whether the rule took part in the decision: its condition held, or (a deny) could
        /// not be evaluated, which fails closed.
        package var matched: Bool { evaluation == .holds || (evaluation == .unknown && effect == .deny) }
    }

    package var input: DecisionInput
    package var decision: Decision
    package var traces: [RuleTrace]
    package var notes: [String]

    package func render() -> String {
        var lines: [String] = []
        let d = decision
        lines.append("decision: \(d.effect.rawValue) (\(d.status) \(d.reason.rawValue)\(d.rule.map { ", rule \"\($0)\"" } ?? ""))")
        if !d.requiredScopes.isEmpty { lines.append("scopes that would allow it: \(d.requiredScopes.joined(separator: " "))") }
        lines.append("server: \(input.serverID)")
        lines.append("operation: \(input.operation)")
        let identity = input.identity
        var who = ["issuer \(identity.issuerID)"]
        if let subject = identity.subject { who.append("subject \(subject)") }
        if let email = identity.email { who.append("email \(email)\(identity.usableEmail == nil ? " (unverified, not used)" : "")") }
        if let client = identity.clientID { who.append("client \(client)") }
        lines.append("caller: " + who.joined(separator: ", "))
        lines.append("scopes: " + (identity.scopes.isEmpty ? "(none)" : identity.scopes.sorted().joined(separator: " ")))
        lines.append("groups: " + (identity.groups.isEmpty ? "(none)" : identity.groups.sorted().joined(separator: " ")))
        lines += notes.map { "note: \($0)" }
        if !traces.isEmpty { lines.append("rules:") }
        for trace in traces {
            let head = "  \(trace.position + 1). \(trace.effect.rawValue) \"\(trace.name)\" (\(trace.location))"
            guard let glob = trace.appliedBy else {
                lines.append("\(head): does not apply to \(input.operation)")
                continue
            }
            if let failed = trace.failed {
                lines.append("\(head): applies via '\(glob.pattern)'; condition fails on \(failed.rawValue)\(trace.detail.map { ": \($0)" } ?? "")")
            } else if trace.evaluation == .unknown {
                let effect = trace.effect == .deny ? "a deny applies -> MATCH (fail closed)" : "an allow does not apply"
                lines.append("\(head): applies via '\(glob.pattern)'; arguments cannot be evaluated, so \(effect)")
            } else {
                lines.append("\(head): applies via '\(glob.pattern)'; condition holds -> MATCH")
            }
            lines += trace.arguments.map { "       \($0)" }
        }
        return lines.joined(separator: "\n")
    }
}

extension PolicySnapshot {
    package func explain(_ input: DecisionInput) -> Explanation {
        let decision = decide(input)
        var notes: [String] = []
        guard let server = servers[input.serverID] else {
            notes.append("no server '\(input.serverID)' in the policy\(Suggestion.hint(for: input.serverID, in: servers.keys))")
            return Explanation(input: input, decision: decision, traces: [], notes: notes)
        }
        if !server.acceptedIssuers.contains(input.identity.issuerID) {
            notes.append(
                "server '\(server.id)' accepts tokens from \(server.acceptedIssuers.elements.sorted().joined(separator: ", ")), not from '\(input.identity.issuerID)'"
            )
            return Explanation(input: input, decision: decision, traces: [], notes: notes)
        }
        let arguments = input.operation.arguments
        let traces = server.rules.enumerated().map { position, rule in
            let glob = rule.targets.match(input.operation)
            let evaluation = glob == nil ? nil : rule.condition.evaluate(input.identity, arguments)
            var detail: String?
            if case let .fails(key)? = evaluation { detail = Self.detail(key, rule.condition, input.identity, arguments) }
            return Explanation.RuleTrace(
                position: position, name: rule.name, effect: rule.effect, location: rule.location, appliedBy: glob,
                evaluation: evaluation, detail: detail,
                arguments: glob == nil ? [] : Self.argumentLines(rule.condition, input.identity, arguments, negated: false)
            )
        }
        if decision.reason == .deniedByRule, traces.contains(where: { $0.matched && $0.effect == .allow }) {
            notes.append("a matching deny rule wins over every allow rule")
        }
        if decision.reason == .noMatchingRule {
            notes.append("no rule allows this operation, so it is denied by default")
        }
        if let would = decision.wouldDecide {
            notes.append("dry run: rule '\(would.rule)' (mode: dry_run) would \(would.effect.rawValue) this, were it enforced")
        }
        if !server.dryRunRules.isEmpty {
            notes.append("rules in dry run, left out below: \(server.dryRunRules.sorted().joined(separator: ", "))")
        }
        if decision.reason == .argumentsUnavailable {
            notes.append(
                arguments.body == nil
                    ? "the call's arguments were not seen (no body; only Mcp-Param-* headers the catalog maps), so argument conditions cannot be evaluated"
                    : "an argument's value is of a type its matcher cannot compare, so that condition cannot be evaluated"
            )
        }
        return Explanation(input: input, decision: decision, traces: traces, notes: notes)
    }

    private static func detail(
        _ key: CompiledCondition.Key, _ condition: CompiledCondition, _ identity: Identity, _ arguments: MCPArguments
    ) -> String {
        func list(_ values: NameSet?) -> String { (values?.elements ?? []).sorted().joined(separator: ", ") }
        switch key {
        case .issuers: return "token issuer '\(identity.issuerID)' is not one of \(list(condition.issuers))"
        case .scopes: return "missing \((condition.scopes?.elements ?? []).filter { !identity.scopes.contains($0) }.sorted().joined(separator: ", "))"
        case .anyScopes: return "has none of \(list(condition.anyScopes))"
        case .emails, .emailDomains:
            guard let email = identity.email else { return "token has no email" }
            guard identity.usableEmail != nil else { return "email \(email) is not verified (email_verified is not true)" }
            return key == .emails ? "\(email) is not listed" : "domain of \(email) is not one of \(list(condition.emailDomains))"
        case .subjects: return identity.subject.map { "subject '\($0)' is not listed" } ?? "token has no sub"
        case .clients: return identity.clientID.map { "client '\($0)' is not listed" } ?? "token has no azp or client_id"
        case .groups: return "caller is in none of \(list(condition.groups))"
        case .claims:
            let failing = condition.claims.first { !CompiledCondition.claimHolds($0.path, $0.values, in: identity.claims) }
            guard let failing else { return "a claim does not match" }
            let actual = ClaimValue.lookup(failing.path, in: identity.claims).map(\.description) ?? "absent"
            return "claim '\(failing.path)' is \(actual), expected \(failing.values.map(\.description).joined(separator: " or "))"
        case .arguments:
            let failing = condition.arguments.first { $0.evaluate(arguments, caller: identity) == .fails }
            return failing.map { "argument '\($0.path)' does not match" } ?? "an argument does not match"
        case .not: return "the condition under 'not' holds"
        }
    }

    /// One line per argument condition (nested ones under `not` marked so): the value the call
    /// gives, the matcher, and the outcome.
    private static func argumentLines(
        _ condition: CompiledCondition, _ identity: Identity, _ arguments: MCPArguments, negated: Bool
    ) -> [String] {
        var lines: [String] = []
        for argument in condition.arguments {
            let value: String
            switch arguments.lookup(argument.path) {
            case let .value(found): value = found.description
            case .absent: value = "absent"
            case .unknown: value = "not seen"
            }
            let outcome: String
            switch argument.evaluate(arguments, caller: identity) {
            case .holds: outcome = "holds"
            case .fails: outcome = "fails"
            case .unknown: outcome = "cannot be evaluated"
            }
            lines.append("\(negated ? "not: " : "")argument '\(argument.path)' = \(value), must be \(argument.matcher): \(outcome)")
        }
        for nested in condition.negated { lines += argumentLines(nested, identity, arguments, negated: true) }
        return lines
    }
}
