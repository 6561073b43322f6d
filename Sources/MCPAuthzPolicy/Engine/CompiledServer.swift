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

    init(_ config: ServerConfig) {
        id = config.id.value
        self.config = config
        acceptedIssuers = NameSet(config.issuers.map(\.value))
        let rules = config.rules.map { CompiledRule($0, catalog: config.catalog) }
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

    /// Every bucket whose rules may apply to the operation, for the slow paths.
    private func buckets(_ operation: MCPOperation) -> [RuleBucket] {
        var result = methods.buckets(matching: operation.method)
        if let target = operation.target { result += targets[Self.slot(target.kind)].buckets(matching: target.name) }
        return result
    }

    func decide(_ identity: Identity, _ operation: MCPOperation) -> Decision {
        guard acceptedIssuers.contains(identity.issuerID) else {
            return Decision(effect: .deny, status: 401, reason: .issuerUntrusted)
        }
        let (firstDeny, firstAllow, scopedAllows) = firstMatches(identity, operation)
        if firstDeny != .max {
            let rule = rules[firstDeny]
            // A deny whose arguments cannot be evaluated denies, and says why.
            let unknown = rule.condition.readsArguments && rule.condition.evaluate(identity, operation.arguments) == .unknown
            return Decision(
                effect: .deny, status: 403, reason: unknown ? .argumentsUnavailable : .deniedByRule, rule: rule.name,
                argumentPaths: rule.condition.argumentPaths
            )
        }
        if firstAllow != .max {
            let rule = rules[firstAllow]
            return Decision(effect: .allow, status: 200, reason: .allowed, rule: rule.name, argumentPaths: rule.condition.argumentPaths)
        }
        if let unevaluated = allowWithUnknownArguments(identity, operation) {
            return Decision(effect: .deny, status: 403, reason: .argumentsUnavailable, argumentPaths: unevaluated.condition.argumentPaths)
        }
        let hint = scopedAllows ? scopesThatWouldAllow(identity, operation) : []
        return Decision(effect: .deny, status: 403, reason: .noMatchingRule, requiredScopes: hint)
    }

    /// For a default deny: the first allow rule that applies to the operation but whose
    /// condition could not be evaluated on the call's arguments, so the denial can say so.
    private func allowWithUnknownArguments(_ identity: Identity, _ operation: MCPOperation) -> CompiledRule? {
        var first = Int.max
        for bucket in buckets(operation) {
            for position in bucket.allows.readingArguments where Int(position) < first {
                if rules[Int(position)].condition.evaluate(identity, operation.arguments) == .unknown { first = Int(position) }
            }
        }
        return first == .max ? nil : rules[first]
    }

    /// Positions of the first matching deny and the first matching allow (`Int.max` for none),
    /// and whether an allow rule that applies asks for scopes (only then can scopes help).
    @inline(__always)
    private func firstMatches(_ identity: Identity, _ operation: MCPOperation) -> (deny: Int, allow: Int, scopedAllows: Bool) {
        var firstDeny = Int.max
        var firstAllow = Int.max
        var scopedAllows = false
        methods.lowerFirstMatches(operation.method, &firstDeny, &firstAllow, &scopedAllows, identity, operation.arguments, rules)
        if let target = operation.target {
            targets[Self.slot(target.kind)].lowerFirstMatches(
                target.name, &firstDeny, &firstAllow, &scopedAllows, identity, operation.arguments, rules
            )
        }
        return (firstDeny, firstAllow, scopedAllows)
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
        for bucket in buckets(operation) {
            for position in bucket.allows.needingScopes {
                let index = Int(position)
                guard trials < Self.maxScopeHintTrials else { break }
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
