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

    init(_ rule: Rule) {
        name = rule.name.value
        needsScopes = rule.condition?.scopes != nil || rule.condition?.anyScopes != nil
        effect = rule.effect
        condition = CompiledCondition(rule.condition)
        targets = CompiledTargets(rule.targets)
        location = rule.location
    }

    /// Whether the rule applies to the caller and call. A condition on arguments that cannot be
    /// evaluated fails closed: a deny applies, an allow does not.
    @inline(__always)
    func holds(for identity: Identity, _ arguments: MCPArguments) -> Bool {
        switch condition.evaluate(identity, arguments) {
        case .holds: return true
        case .fails: return false
        case .unknown: return effect == .deny
        }
    }
}

/// A rule's `allow:` or `deny:` as compiled patterns.
package struct CompiledTargets: Sendable {
    package let methods: [Glob]
    package let byKind: [TargetKind: [Glob]]

    init(_ targets: Targets) {
        func globs(_ list: [Located<String>]?) -> [Glob] { (list ?? []).map { Glob($0.value) } }
        methods = globs(targets.methods)
        byKind = [.tool: globs(targets.tools), .prompt: globs(targets.prompts), .resource: globs(targets.resources)]
    }

    /// The pattern that makes this rule apply to the operation, or nil. A method pattern covers
    /// whatever the method names; a tool, prompt or resource pattern covers only that target.
    package func match(_ operation: MCPOperation) -> Glob? {
        if let glob = methods.first(where: { $0.matches(operation.method) }) { return glob }
        guard let target = operation.target else { return nil }
        return byKind[target.kind]?.first { $0.matches(target.name) }
    }
}
