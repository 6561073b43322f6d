/// `mcp-authz diff OLD NEW`: every (server, operation, caller class) whose decision two
/// policy sets take differently, each with a witness, found without traffic.
///
/// A decision depends only on the enforced rules whose targets match the operation, and on
/// which names and values their conditions mention the caller has. So only operations that
/// some rule present in one policy and not the other matches can change (all of a server's
/// operations when what its rules stand on changed: its issuers, its catalog, how an issuer
/// reads tokens); for each, the callers are split by every distinction the rules matching it,
/// in either policy, draw, and one representative of each class is decided by both.
package struct PolicyDiff: Sendable {
    /// One class of callers of one operation whose decision changes.
    package struct Change: Sendable {
        package var server: String
        package var operation: MCPOperation
        /// Nil when the operation's method and name are ones a policy or catalog gives; else
        /// what the example stands for (the pattern it matches).
        package var standsFor: String?
        /// The representative of the class: a caller that shows the change.
        package var witness: Caller
        /// The class's distinctions as words: "scopes read:todos, not write:todos; group admins".
        package var caller: String
        package var before: Decision
        package var after: Decision
        /// The distinctions this class is cut by, to tell whether another caller is in it.
        let space: CallerSpace
        /// Whether the call's arguments are part of the class.
        package var argumentsMatter: Bool { !space.arguments.isEmpty }
        /// The rules matching the operation in each policy, to tell whether another operation
        /// is decided alike.
        let rules: (old: [Int], new: [Int])
    }

    package var changes: [Change] = []
    /// Where a bound cut the search short, one sentence each.
    package var cutShort: [String] = []
    /// Differences decisions cannot show: how an issuer reads tokens.
    package var notes: [String] = []
    package var operationsCompared = 0
    package var classesCompared = 0

    /// At most this many callers are tried for one operation.
    package static let defaultMaxCallers = 1 << 16

    package init(old: PolicySnapshot, new: PolicySnapshot, maxCallers: Int = defaultMaxCallers) {
        let readingChanged = Self.compareIssuers(old, new, notes: &notes)
        let ids = Set(old.policy.servers.map(\.id.value)).union(new.policy.servers.map(\.id.value)).sorted()
        for id in ids {
            let before = old.policy.servers.first { $0.id.value == id }
            let after = new.policy.servers.first { $0.id.value == id }
            compare(server: id, before, after, old: old, new: new, readingChanged: readingChanged, maxCallers: maxCallers)
        }
    }

    private mutating func compare(
        server id: String, _ before: ServerConfig?, _ after: ServerConfig?, old: PolicySnapshot, new: PolicySnapshot,
        readingChanged: Set<String>, maxCallers: Int
    ) {
        if let before, let after {
            let limits = { (server: ServerConfig) in
                server.limits.map {
                    "\($0.name.value)|\($0.key)|\(String(describing: $0.rate))|\($0.burst ?? -1)|\($0.quota ?? -1)|\($0.condition.map(\.canonical) ?? "")|\($0.appliesTo.map(\.canonical) ?? "")"
                }
            }
            if limits(before) != limits(after) {
                notes.append("server \(id): its limits changed; diff compares what the rules decide (a policy test with request.count shows a limit)")
            }
        }
        let lookups = (old: before.map(RuleLookup.init), new: after.map(RuleLookup.init))
        let issuers = Self.issuerURLs(before, in: old).union(Self.issuerURLs(after, in: new)).sorted()
        // Which operations can change: all when the ground under the rules moved, else those a
        // rule in one policy and not in the other matches.
        var everything = before == nil || after == nil || !issuers.allSatisfy { !readingChanged.contains($0) }
        if let before, let after {
            everything =
                everything || Self.issuerURLs(before, in: old) != Self.issuerURLs(after, in: new)
                || before.catalog?.tools.map(\.definitionHash) != after.catalog?.tools.map(\.definitionHash)
                || before.catalog?.prompts != after.catalog?.prompts || before.catalog?.resources != after.catalog?.resources
        }
        var differing: [CompiledTargets] = []
        if !everything, let before, let after {
            var counts: [String: Int] = [:]
            for rule in lookups.old?.rules ?? [] { counts[rule.canonical, default: 0] += 1 }
            for rule in lookups.new?.rules ?? [] { counts[rule.canonical, default: 0] -= 1 }
            guard counts.values.contains(where: { $0 != 0 }) else { return }
            for (rules, server) in [(lookups.old?.rules ?? [], before), (lookups.new?.rules ?? [], after)] {
                for rule in rules where counts[rule.canonical] != 0 { differing.append(CompiledTargets(rule.targets, catalog: server.catalog)) }
            }
        }
        let space = OperationSpace(servers: [before, after].compactMap { $0 })
        // An example name matched by the same rules as an operation already compared is
        // decided as that one is: compared once.
        var compared = Set<[Int]>()
        for entry in space.operations {
            let operation = entry.operation
            guard everything || differing.contains(where: { $0.match(operation) != nil }) else { continue }
            let matching = (old: lookups.old?.matching(operation) ?? [], new: lookups.new?.matching(operation) ?? [])
            guard compared.insert(matching.old + [-1] + matching.new).inserted || entry.standsFor == nil else { continue }
            operationsCompared += 1
            let rules = matching.old.map { lookups.old!.rules[$0] } + matching.new.map { lookups.new!.rules[$0] }
            let callers = CallerSpace(rules: rules, issuers: issuers)
            let total = callers.count
            if total > maxCallers {
                cutShort.append(
                    "\(id) \(operation): \(Self.plural(maxCallers, "caller class")) tried of \(total == Int.max ? "too many" : String(total))")
            } else if callers.reduced {
                cutShort.append("\(id) \(operation): claims or arguments with many values were tried one value at a time")
            }
            for index in 0..<min(total, maxCallers) {
                let witness = callers.caller(index)
                classesCompared += 1
                let was = witness.decide(operation, server: id, in: old)
                let now = witness.decide(operation, server: id, in: new)
                guard was.isAllowed != now.isAllowed else { continue }
                changes.append(
                    Change(
                        server: id, operation: operation, standsFor: entry.standsFor, witness: witness,
                        caller: callers.describe(witness), before: was, after: now, space: callers, rules: matching
                    )
                )
            }
        }
    }

    /// The `iss` of each issuer a server accepts.
    private static func issuerURLs(_ server: ServerConfig?, in snapshot: PolicySnapshot) -> Set<String> {
        Set((server?.issuers ?? []).compactMap { snapshot.issuers[$0.value]?.issuer.value })
    }

    /// Issuers (by `iss`) whose token reading differs between the policies, noted.
    private static func compareIssuers(_ old: PolicySnapshot, _ new: PolicySnapshot, notes: inout [String]) -> Set<String> {
        var changed = Set<String>()
        for (iss, before) in old.issuersByURL.sorted(by: { $0.key < $1.key }) {
            guard let after = new.issuersByURL[iss] else { continue }
            var what: [String] = []
            if before.scopeClaims != after.scopeClaims { what.append("scope_claims \(before.scopeClaims) → \(after.scopeClaims)") }
            if before.emailClaim != after.emailClaim { what.append("email_claim \(before.emailClaim) → \(after.emailClaim)") }
            if before.groupsClaim != after.groupsClaim { what.append("groups_claim \(before.groupsClaim) → \(after.groupsClaim)") }
            if before.requireEmailVerified != after.requireEmailVerified {
                what.append("require_email_verified \(before.requireEmailVerified) → \(after.requireEmailVerified)")
            }
            guard !what.isEmpty else { continue }
            changed.insert(iss)
            notes.append(
                "issuer \(iss) reads tokens differently (\(what.joined(separator: ", "))): the same token may stand for another caller; "
                    + "callers are compared here by what they are read as"
            )
        }
        return changed
    }

    static func plural(_ count: Int, _ noun: String) -> String { "\(count) \(noun)\(count == 1 ? "" : "es")" }
}

extension Rule {
    /// What the rule decides on, without its name or place: two rules with the same text here
    /// take the same decisions.
    var canonical: String {
        "\(effect.rawValue)|\(condition.map(\.canonical) ?? "")|\(targets.canonical)"
    }
}

extension Condition {
    var canonical: String {
        func list(_ key: String, _ values: [Located<String>]?) -> String {
            values.map { "\(key)=" + $0.map(\.value).sorted().joined(separator: ",") + ";" } ?? ""
        }
        var text = list("iss", issuers) + list("scopes", scopes) + list("any", anyScopes) + list("emails", emails)
        text += list("domains", emailDomains) + list("subjects", subjects) + list("clients", clients) + list("groups", groups)
        for claim in (claims ?? []).sorted(by: { $0.path.value < $1.path.value }) {
            text += "claim \(claim.path.value)=" + claim.values.map(\.jsonText).sorted().joined(separator: ",") + ";"
        }
        for argument in (arguments ?? []).sorted(by: { $0.path.value < $1.path.value }) {
            text += "argument \(argument.path.value)=\(argument.matcher);"
        }
        if let not { text += "not(\(not.value.canonical))" }
        return text
    }
}

extension Targets {
    var canonical: String {
        func list(_ key: String, _ values: [Located<String>]?) -> String {
            values.map { "\(key)=" + $0.map(\.value).sorted().joined(separator: ",") + ";" } ?? ""
        }
        let annotated = (annotations ?? []).map { "\($0.key.value)=\($0.value.jsonText)" }.sorted().joined(separator: ",")
        return list("methods", methods) + list("tools", tools) + list("prompts", prompts) + list("resources", resources) + "annotations=" + annotated
    }
}

extension CallerSpace {
    /// A class in words: each distinction the caller has, and those it lacks.
    func describe(_ caller: Caller) -> String {
        var parts: [String] = []
        if issuers.count > 1 { parts.append("issuer \(caller.issuer)") }
        func split(_ what: String, _ named: [String], _ has: (String) -> Bool) {
            guard !named.isEmpty else { return }
            let held = named.filter(has), lacking = named.filter { !has($0) }
            var text = "\(what) "
            text += held.isEmpty ? "none of the named" : held.joined(separator: ", ")
            if !held.isEmpty, !lacking.isEmpty { text += ", not " + lacking.joined(separator: ", ") }
            parts.append(text)
        }
        split("scopes", scopes) { caller.scopes.contains($0) }
        split("groups", groups) { caller.groups.contains($0) }
        if !emails.isEmpty || !domains.isEmpty { parts.append("email " + (caller.email ?? "none or another")) }
        if !subjects.isEmpty { parts.append("subject " + (subjects.contains(caller.subject ?? "") ? caller.subject! : "another")) }
        if !clients.isEmpty { parts.append("client " + (caller.client ?? "another")) }
        for claim in claims { parts.append("claim \(claim.path) " + (caller.claims[claim.path]?.jsonText ?? "absent or another")) }
        if !arguments.isEmpty {
            if let body = caller.arguments {
                let text = arguments.map { argument in "\(argument.path)=\(body[argument.path]?.jsonText ?? "absent")" }
                parts.append("arguments " + text.joined(separator: ", "))
            } else {
                parts.append("arguments not seen")
            }
        }
        return parts.isEmpty ? "every caller" : parts.joined(separator: "; ")
    }
}
