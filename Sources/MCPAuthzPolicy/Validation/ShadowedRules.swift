/// Rules that can never decide, because an earlier or stronger rule takes every operation they
/// name for every caller: an allow whose every operation an unconditional deny denies (it can
/// never allow), and an allow after an unconditional allow that covers it (it never becomes the
/// deciding rule, so the audit log never names it). Both are warnings: the policy still means
/// what it says (deny wins), and `validate --strict` fails on them.
///
/// Coverage is judged on the patterns as written, conservatively: a pattern is covered by `*`,
/// by the same pattern, or, when it has no wildcard, by a glob that matches it; tools and prompts
/// are also covered by a `methods` pattern matching `tools/call` or `prompts/get`. What cannot be
/// proven covered is not reported.
enum ShadowedRules {
    static func problems(in server: ServerConfig) -> [PolicyDiagnostic] {
        var problems: [PolicyDiagnostic] = []
        // Only enforced rules decide; and what an `annotations` target covers depends on the
        // catalog, which this judgement on patterns as written does not read.
        let judged = server.rules.filter { $0.mode == .enforce && $0.targets.annotations == nil }
        let unconditionalDenies = judged.filter { $0.effect == .deny && $0.condition == nil }
        var earlierUnconditionalAllows: [Rule] = []
        for rule in judged where rule.effect == .allow {
            if let deny = unconditionalDenies.first(where: { covers($0.targets, rule.targets) }) {
                problems.append(
                    PolicyDiagnostic(
                        "rule '\(rule.name.value)' can never allow: rule '\(deny.name.value)' (\(deny.name.location)) denies everything it allows, for every caller",
                        at: rule.name.location, severity: .warning
                    )
                )
            } else if let earlier = earlierUnconditionalAllows.first(where: { covers($0.targets, rule.targets) }) {
                problems.append(
                    PolicyDiagnostic(
                        "rule '\(rule.name.value)' never decides: rule '\(earlier.name.value)' (\(earlier.name.location)) before it allows everything it allows, for every caller",
                        at: rule.name.location, severity: .warning
                    )
                )
            }
            // Only a rule with a wildcard can cover another's many names; keeping just those
            // keeps this linear for policies of thousands of exact-name rules.
            if rule.condition == nil, hasWildcard(rule.targets) { earlierUnconditionalAllows.append(rule) }
        }
        return problems
    }

    /// Whether every operation `inner` names is named by `outer` too.
    static func covers(_ outer: Targets, _ inner: Targets) -> Bool {
        let innerPatterns = [inner.methods, inner.tools, inner.prompts, inner.resources].compactMap { $0 }.flatMap { $0 }
        guard !innerPatterns.isEmpty else { return false }
        let methods = patterns(outer.methods)
        let wholeMethod = { (method: String) in methods.contains { covers($0, method) } }
        return all(inner.methods, coveredBy: methods)
            && (wholeMethod("tools/call") || all(inner.tools, coveredBy: patterns(outer.tools)))
            && (wholeMethod("prompts/get") || all(inner.prompts, coveredBy: patterns(outer.prompts)))
            && all(inner.resources, coveredBy: patterns(outer.resources))
    }

    private static func hasWildcard(_ targets: Targets) -> Bool {
        [targets.methods, targets.tools, targets.prompts, targets.resources].contains { list in
            list?.contains { Glob.hasWildcard($0.value) } ?? false
        }
    }

    private static func patterns(_ list: [Located<String>]?) -> [String] {
        list?.map(\.value) ?? []
    }

    private static func all(_ inner: [Located<String>]?, coveredBy outer: [String]) -> Bool {
        (inner ?? []).allSatisfy { pattern in outer.contains { covers($0, pattern.value) } }
    }

    /// Whether the glob `outer` matches every name the pattern `inner` matches.
    private static func covers(_ outer: String, _ inner: String) -> Bool {
        outer == "*" || outer == inner || (!Glob.hasWildcard(inner) && Glob(outer).matches(inner))
    }
}
