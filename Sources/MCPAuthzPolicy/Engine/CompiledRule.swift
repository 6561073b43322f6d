/// A rule ready for evaluation, keeping where it was written for explanations.
///
/// A class, so the decision loop reads rules in place instead of copying their many sets.
package final class CompiledRule: Sendable {
    package let name: String
    package let effect: Rule.Effect
    package let condition: CompiledCondition
    package let targets: CompiledTargets
    package let location: SourceLocation

    /// Whether the condition asks for scopes, so adding scopes could make it hold.
    let needsScopes: Bool

    init(_ rule: Rule, catalog: ToolCatalog? = nil) {
        name = rule.name.value
        needsScopes = rule.condition?.scopes != nil || rule.condition?.anyScopes != nil
        effect = rule.effect
        condition = CompiledCondition(rule.condition)
        targets = CompiledTargets(rule.targets, catalog: catalog)
        location = rule.location
    }

    /// Whether the rule applies to the caller and call. A condition on arguments that cannot be
    /// evaluated fails closed: a deny applies, an allow does not (the other way round when the
    /// arguments stand for any call, to ask whether some call could be allowed).
    @inline(__always)
    func holds(for identity: Identity, _ arguments: MCPArguments) -> Bool {
        var unknown = Int.max
        return holds(for: identity, arguments, unknown: &unknown, at: 0)
    }

    /// As `holds`, lowering `unknown` to `position` when the condition could not be evaluated.
    @inline(__always)
    func holds(for identity: Identity, _ arguments: MCPArguments, unknown: inout Int, at position: Int) -> Bool {
        switch condition.evaluate(identity, arguments) {
        case .holds: return true
        case .fails: return false
        case .unknown:
            unknown = min(unknown, position)
            return (effect == .deny) != arguments.standForAny
        }
    }
}

/// A rule's `allow:` or `deny:` as compiled patterns.
package struct CompiledTargets: Sendable {
    package let methods: [Glob]
    package let byKind: [TargetKind: [Glob]]

    init(_ targets: Targets, catalog: ToolCatalog?) {
        func globs(_ list: [Located<String>]?) -> [Glob] { (list ?? []).map { Glob($0.value) } }
        methods = globs(targets.methods)
        let annotated = Self.tools(annotated: targets.annotations, in: catalog).map { Glob(Glob.literal($0)) }
        byKind = [.tool: globs(targets.tools) + annotated, .prompt: globs(targets.prompts), .resource: globs(targets.resources)]
    }

    /// The catalog's tools whose annotations have every listed value; none without a catalog.
    package static func tools(annotated matches: [AnnotationMatch]?, in catalog: ToolCatalog?) -> [String] {
        guard let matches, let catalog else { return [] }
        return catalog.tools.filter { tool in
            matches.allSatisfy { match in tool.annotations[match.key.value].map { $0.matches(match.value) } ?? false }
        }.map(\.name)
    }

    /// The pattern that makes this rule apply to the operation, or nil. A method pattern covers
    /// whatever the method names; a tool, prompt or resource pattern covers only that target.
    package func match(_ operation: MCPOperation) -> Glob? {
        if let glob = methods.first(where: { $0.matches(operation.method) }) { return glob }
        guard let target = operation.target else { return nil }
        return byKind[target.kind]?.first { $0.matches(target.name) }
    }
}

extension ServerConfig {
    /// The names of a kind this server is known to have: its catalog's, and those its rules name
    /// exactly (a pattern stands for names no one can list), once each, sorted.
    package func knownNames(_ kind: TargetKind) -> [String] {
        var names = Set<String>()
        for rule in rules {
            for glob in CompiledTargets(rule.targets, catalog: catalog).byKind[kind] ?? [] {
                if let name = glob.exactName { names.insert(name) }
            }
        }
        if let catalog {
            switch kind {
            case .tool: names.formUnion(catalog.tools.map(\.name))
            case .prompt: names.formUnion(catalog.prompts)
            case .resource: names.formUnion(catalog.resources)
            }
        }
        return names.sorted()
    }
}

extension ServerConfig {
    /// A scope a client asks for to get a refresh token, never one a resource needs (MCP
    /// 2026-07-28: not to be named in `scope=` or `scopes_supported`).
    package static let refreshOnlyScopes: Set<String> = ["offline_access"]

    /// The scopes to advertise: `scopes_supported` when set, else the scopes the enforced allow
    /// rules require (`scopes`, `any_scopes`, outside any `not:`), sorted; `offline_access` never.
    package var advertisedScopes: [String] {
        var scopes: [String]
        if !scopesSupported.isEmpty {
            scopes = scopesSupported.map(\.value)
        } else {
            var named = Set<String>()
            for rule in rules where rule.effect == .allow && rule.mode == .enforce {
                guard let condition = rule.condition else { continue }
                named.formUnion((condition.scopes ?? []).map(\.value))
                named.formUnion((condition.anyScopes ?? []).map(\.value))
            }
            scopes = named.sorted()
        }
        var seen = Set<String>()
        return scopes.filter { !Self.refreshOnlyScopes.contains($0) && seen.insert($0).inserted }
    }
}
