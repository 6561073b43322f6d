/// The rules of one effect that can apply to one target, indexed by the identity attribute each
/// rule requires, so a decision visits only rules whose caller could be this one.
struct IndexedRules: Sendable {
    /// Rules with no indexable identity condition.
    private var unkeyed: [Int32] = []
    /// Per `IdentityAttribute`, value to rules.
    private var keyed: [[String: [Int32]]] = Array(repeating: [:], count: IdentityAttribute.allCases.count)
    /// The rules whose condition asks for scopes, for the scope hint of a default deny.
    private(set) var needingScopes: [Int32] = []
    /// The rules whose condition looks at arguments, to tell a default deny that arguments
    /// could not be evaluated.
    private(set) var readingArguments: [Int32] = []

    mutating func add(_ index: Int, rule: CompiledRule) {
        let position = Int32(index)
        if rule.needsScopes { needingScopes.append(position) }
        if rule.condition.readsArguments { readingArguments.append(position) }
        guard let key = rule.condition.indexKey else {
            unkeyed.append(position)
            return
        }
        let slot = IdentityAttribute.allCases.firstIndex(of: key.attribute)!
        for value in key.values { keyed[slot][value, default: []].append(position) }
    }

    /// Lowers `first` to the position of the earliest rule here whose condition holds for the
    /// identity. Rules at or after `first` are not evaluated.
    /// `unknown` is lowered to the earliest rule whose condition could not be evaluated on the
    /// arguments (an allow that then does not apply), for a default deny to say so.
    func lowerFirstMatch(
        _ first: inout Int, _ unknown: inout Int, for identity: Identity, _ arguments: MCPArguments, in rules: [CompiledRule]
    ) {
        Self.scan(unkeyed, &first, &unknown, identity, arguments, rules)
        // Most buckets index by one attribute at most; an empty table is skipped before the
        // key is hashed.
        if !keyed[0].isEmpty, let email = identity.usableEmail, let list = keyed[0][email] {
            Self.scan(list, &first, &unknown, identity, arguments, rules)
        }
        if !keyed[1].isEmpty, let subject = identity.subject, let list = keyed[1][subject] {
            Self.scan(list, &first, &unknown, identity, arguments, rules)
        }
        if !keyed[2].isEmpty, let client = identity.clientID, let list = keyed[2][client] {
            Self.scan(list, &first, &unknown, identity, arguments, rules)
        }
        if !keyed[3].isEmpty {
            for group in identity.groups {
                if let list = keyed[3][group] { Self.scan(list, &first, &unknown, identity, arguments, rules) }
            }
        }
        if !keyed[4].isEmpty, let domain = identity.emailDomain, let list = keyed[4][domain] {
            Self.scan(list, &first, &unknown, identity, arguments, rules)
        }
    }

    @inline(__always)
    private static func scan(
        _ list: [Int32], _ first: inout Int, _ unknown: inout Int, _ identity: Identity, _ arguments: MCPArguments, _ rules: [CompiledRule]
    ) {
        for position in list {
            let index = Int(position)
            // Lists are in rule order, so nothing later in this one can be earlier.
            if index >= first { return }
            if rules[index].holds(for: identity, arguments, unknown: &unknown, at: index) {
                first = index
                return
            }
        }
    }
}

/// The deny and allow rules that apply to one target name or pattern. Immutable once built.
final class RuleBucket: Sendable {
    let denies: IndexedRules
    let allows: IndexedRules

    init(denies: IndexedRules, allows: IndexedRules) {
        self.denies = denies
        self.allows = allows
    }
}

/// Names to buckets: exact names by hash lookup, patterns scanned (they are few in practice).
struct TargetTable: Sendable {
    private let exact: [String: RuleBucket]
    private let patterns: [Glob]
    private let patternBuckets: [RuleBucket]

    /// Collects rules per exact name and per distinct pattern, then freezes them.
    struct Builder {
        private var exact: [String: (denies: IndexedRules, allows: IndexedRules)] = [:]
        private var patterns: [Glob] = []
        private var patternRules: [(denies: IndexedRules, allows: IndexedRules)] = []

        mutating func add(_ glob: Glob, index: Int, rule: CompiledRule) {
            if let name = glob.exactName {
                Self.add(index, rule, to: &exact[name, default: (IndexedRules(), IndexedRules())])
            } else if let position = patterns.firstIndex(of: glob) {
                Self.add(index, rule, to: &patternRules[position])
            } else {
                patterns.append(glob)
                patternRules.append((IndexedRules(), IndexedRules()))
                Self.add(index, rule, to: &patternRules[patternRules.count - 1])
            }
        }

        private static func add(_ index: Int, _ rule: CompiledRule, to pair: inout (denies: IndexedRules, allows: IndexedRules)) {
            switch rule.effect {
            case .deny: pair.denies.add(index, rule: rule)
            case .allow: pair.allows.add(index, rule: rule)
            }
        }

        func build() -> TargetTable {
            TargetTable(
                exact: exact.mapValues { RuleBucket(denies: $0.denies, allows: $0.allows) },
                patterns: patterns,
                patternBuckets: patternRules.map { RuleBucket(denies: $0.denies, allows: $0.allows) }
            )
        }
    }

    /// Lowers the first matching deny and allow positions over every bucket that applies to
    /// the name, and notes whether any of them holds an allow rule that asks for scopes, and
    /// the first deny and allow whose conditions could not be evaluated on the arguments.
    @inline(__always)
    func lowerFirstMatches(
        _ name: String, _ firstDeny: inout Int, _ firstAllow: inout Int, _ scopedAllows: inout Bool, _ unknownDeny: inout Int,
        _ unknownAllow: inout Int, _ identity: Identity, _ arguments: MCPArguments, _ rules: [CompiledRule]
    ) {
        if let bucket = exact[name] {
            bucket.denies.lowerFirstMatch(&firstDeny, &unknownDeny, for: identity, arguments, in: rules)
            bucket.allows.lowerFirstMatch(&firstAllow, &unknownAllow, for: identity, arguments, in: rules)
            scopedAllows = scopedAllows || !bucket.allows.needingScopes.isEmpty
        }
        for i in patterns.indices where patterns[i].matches(name) {
            patternBuckets[i].denies.lowerFirstMatch(&firstDeny, &unknownDeny, for: identity, arguments, in: rules)
            patternBuckets[i].allows.lowerFirstMatch(&firstAllow, &unknownAllow, for: identity, arguments, in: rules)
            scopedAllows = scopedAllows || !patternBuckets[i].allows.needingScopes.isEmpty
        }
    }

    /// Every bucket that applies to the name, for the slow paths, without collecting them.
    func forEachBucket(matching name: String, _ body: (RuleBucket) -> Void) {
        if let bucket = exact[name] { body(bucket) }
        for i in patterns.indices where patterns[i].matches(name) { body(patternBuckets[i]) }
    }
}
