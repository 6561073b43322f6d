/// One policy rule: when its condition holds and its targets match the operation, it allows or
/// denies.
package struct Rule: Sendable {
    package enum Effect: String, Sendable {
        case allow
        case deny
    }

    package var name: Located<String>
    package var effect: Effect
    /// Absent means the rule applies to every caller the server accepts.
    package var condition: Condition?
    package var targets: Targets
    package var location: SourceLocation
}

/// The `when:` of a rule. Every listed condition must hold.
package struct Condition: Sendable {
    /// Issuer ids; any of them.
    package var issuers: [Located<String>]?
    /// Scopes; all of them.
    package var scopes: [Located<String>]?
    /// Scopes; at least one of them.
    package var anyScopes: [Located<String>]?
    /// Email addresses; any of them (domain compared case-insensitively).
    package var emails: [Located<String>]?
    /// Email domains; any of them, compared case-insensitively.
    package var emailDomains: [Located<String>]?
    /// `sub` values; any of them.
    package var subjects: [Located<String>]?
    /// Client ids (`azp` or `client_id`); any of them.
    package var clients: [Located<String>]?
    /// Groups; membership in any of them.
    package var groups: [Located<String>]?
    /// Claim path to accepted values; every listed path must hold one of its values.
    package var claims: [ClaimCondition]?
    /// Holds when the nested condition does not.
    package var not: Box<Condition>?
    package var location: SourceLocation
}

/// `claims: { path: value }` or `claims: { path: [values] }`.
package struct ClaimCondition: Sendable {
    package var path: Located<String>
    package var values: [ClaimValue]
}

/// What a rule allows or denies.
package struct Targets: Sendable {
    /// JSON-RPC method globs; a matching method is granted whatever it names.
    package var methods: [Located<String>]?
    /// Tool name globs, for `tools/call`.
    package var tools: [Located<String>]?
    /// Prompt name globs, for `prompts/get` and prompt completions.
    package var prompts: [Located<String>]?
    /// Resource URI globs, for `resources/read`, subscriptions and resource completions.
    package var resources: [Located<String>]?
    package var location: SourceLocation
}

/// Indirection for the recursive `not:` condition.
package final class Box<Wrapped: Sendable>: Sendable {
    package let value: Wrapped
    package init(_ value: Wrapped) { self.value = value }
}
