/// One server's rules, compiled and indexed by method and by target name.
///
/// A class: a decision looks the server up by id and must not copy its tables to do so.
package final class CompiledServer: Sendable {
    package let id: String
    package let config: ServerConfig
    let acceptedIssuers: NameSet
    package let rules: [CompiledRule]
    private let methods: TargetTable
    private let targets: [TargetTable]
    /// The names of the `mode: dry_run` rules, which `rules` leaves out.
    package let dryRunRules: Set<String>
    /// The same server with its dry-run rules enforced, to tell when one would decide; nil
    /// when it has none.
    private let asIfEnforced: CompiledServer?
    /// Every claim path its rules' `claims:` conditions and argument `claim:` matchers name
    /// (dry-run rules and `not:` included), sorted: what an audit record keeps of the caller's claims, so a decision can
    /// be replayed.
    package let claimPaths: [String]
    /// `limits:`, in the order written.
    package let limits: [CompiledLimit]

    /// - Parameter enforcingAll: compile dry-run rules as enforced (the `asIfEnforced` twin).
    init(_ config: ServerConfig, enforcingAll: Bool = false) {
        id = config.id.value
        self.config = config
        acceptedIssuers = NameSet(config.issuers.map(\.value))
        let dryRun = enforcingAll ? [] : config.rules.filter { $0.mode == .dryRun }
        dryRunRules = Set(dryRun.map(\.name.value))
        func paths(_ condition: Condition?) -> [String] {
            guard let condition else { return [] }
            let compared = (condition.arguments ?? []).flatMap(\.matcher.claimPaths)
            return (condition.claims ?? []).map(\.path.value) + compared + paths(condition.not?.value)
        }
        claimPaths = Set(config.rules.flatMap { paths($0.condition) }).sorted()
        limits = config.limits.map { CompiledLimit($0, catalog: config.catalog) }
        asIfEnforced = dryRun.isEmpty ? nil : CompiledServer(config, enforcingAll: true)
        let rules = config.rules.filter { enforcingAll || $0.mode == .enforce }.map { CompiledRule($0, catalog: config.catalog) }
        self.rules = rules
        var methods = TargetTable.Builder()
        var targets = Array(repeating: TargetTable.Builder(), count: TargetKind.allCases.count)
        for (index, rule) in rules.enumerated() {
            for glob in rule.targets.methods { methods.add(glob, index: index, rule: rule) }
            for kind in TargetKind.allCases {
                for glob in rule.targets.byKind[kind] ?? [] {
                    targets[Self.slot(kind)].add(glob, index: index, rule: rule)
                }
            }
        }
        self.methods = methods.build()
        self.targets = targets.map { $0.build() }
    }

    @inline(__always)
    private static func slot(_ kind: TargetKind) -> Int {
        switch kind {
        case .tool: return 0
        case .prompt: return 1
        case .resource: return 2
        }
    }

    /// Every bucket whose rules may apply to the operation, for the slow paths (a default deny
    /// is one of them, so nothing is collected).
    private func forEachBucket(_ operation: MCPOperation, _ body: (RuleBucket) -> Void) {
        methods.forEachBucket(matching: operation.method, body)
        if let target = operation.target { targets[Self.slot(target.kind)].forEachBucket(matching: target.name, body) }
    }

    func decide(_ identity: Identity, _ operation: MCPOperation) -> Decision {
        var decision = decideEnforced(identity, operation)
        // A dry-run rule is watched: decided again with it enforced, it is named when it decides.
        if let asIfEnforced {
            let would = asIfEnforced.decideEnforced(identity, operation)
            if let rule = would.rule, dryRunRules.contains(rule) { decision.wouldDecide = DryRunVerdict(effect: would.effect, rule: rule) }
        }
        return decision
    }

    /// The decision of the enforced rules.
    private func decideEnforced(_ identity: Identity, _ operation: MCPOperation) -> Decision {
        guard acceptedIssuers.contains(identity.issuerID) else {
            return Decision(effect: .deny, status: 401, reason: .issuerUntrusted)
        }
        let matches = firstMatches(identity, operation)
        if matches.deny != .max {
            let rule = rules[matches.deny]
            // A deny whose arguments cannot be evaluated denies, and says why.
            return Decision(
                effect: .deny, status: 403, reason: matches.unknownDeny == matches.deny ? .argumentsUnavailable : .deniedByRule,
                rule: rule.name, argumentPaths: rule.condition.argumentPaths
            )
        }
        if matches.allow != .max {
            let rule = rules[matches.allow]
            return Decision(effect: .allow, status: 200, reason: .allowed, rule: rule.name, argumentPaths: rule.condition.argumentPaths)
        }
        // An allow that would apply but for arguments it could not evaluate: the denial says so.
        if matches.unknownAllow != .max {
            return Decision(
                effect: .deny, status: 403, reason: .argumentsUnavailable, argumentPaths: rules[matches.unknownAllow].condition.argumentPaths
            )
        }
        let hint = matches.scopedAllows ? scopesThatWouldAllow(identity, operation) : []
        return Decision(effect: .deny, status: 403, reason: .noMatchingRule, requiredScopes: hint)
    }

    /// Positions of the first matching deny and the first matching allow (`Int.max` for none),
    /// whether an allow rule that applies asks for scopes (only then can scopes help), and the
    /// first deny and allow whose conditions could not be evaluated on the arguments.
    @inline(__always)
    private func firstMatches(
        _ identity: Identity, _ operation: MCPOperation
    ) -> (deny: Int, allow: Int, scopedAllows: Bool, unknownDeny: Int, unknownAllow: Int) {
        var (firstDeny, firstAllow, scopedAllows, unknownDeny, unknownAllow) = (Int.max, Int.max, false, Int.max, Int.max)
        methods.lowerFirstMatches(
            operation.method, &firstDeny, &firstAllow, &scopedAllows, &unknownDeny, &unknownAllow, identity, operation.arguments, rules
        )
        if let target = operation.target {
            targets[Self.slot(target.kind)].lowerFirstMatches(
                target.name, &firstDeny, &firstAllow, &scopedAllows, &unknownDeny, &unknownAllow, identity, operation.arguments, rules
            )
        }
        return (firstDeny, firstAllow, scopedAllows, unknownDeny, unknownAllow)
    }

    /// For a default deny: the fewest scopes that, added to the caller's, would make the
    /// operation allowed, if some allow rule needs only scopes the caller lacks. Each candidate
    /// is proved by matching again with the scopes added, so a deny that the added scopes would
    /// trigger still wins. At most `maxScopeHintTrials` rules are tried, bounding the cost of a
    /// denial.
    private func scopesThatWouldAllow(_ identity: Identity, _ operation: MCPOperation) -> [String] {
        var best: Set<String>?
        var bestIndex = Int.max
        var trials = 0
        forEachBucket(operation) { bucket in
            for position in bucket.allows.needingScopes {
                let index = Int(position)
                guard trials < Self.maxScopeHintTrials else { break }
                // Most denials have every scope the rule asks for (arguments or identity decided):
                // tell so without building the set of missing scopes.
                guard !rules[index].condition.hasScopes(of: identity) else { continue }
                let missing = rules[index].condition.missingScopes(for: identity)
                guard !missing.isEmpty else { continue }
                let better = missing.count < (best?.count ?? .max) || (missing.count == best?.count && index < bestIndex)
                guard better else { continue }
                trials += 1
                var elevated = identity
                elevated.scopes.formUnion(missing)
                let trial = firstMatches(elevated, operation)
                if trial.deny == .max, trial.allow != .max {
                    best = missing
                    bestIndex = index
                }
            }
        }
        return best?.sorted() ?? []
    }

    static let maxScopeHintTrials = 32
}
