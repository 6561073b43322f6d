/// One policy rule: when its condition holds and its targets match the operation, it allows or
/// denies.
package struct Rule: Sendable {
    package enum Effect: String, Sendable {
        case allow
        case deny
    }

    /// `mode:` — whether the rule decides, or is only watched.
    package enum Mode: String, Sendable, CaseIterable {
        case enforce
        /// Taken out of the decision; when it would have decided, the decision says so
        /// (`would_deny_by` / `would_allow_by`).
        case dryRun = "dry_run"
    }

    package var name: Located<String>
    package var effect: Effect
    package var mode: Mode = .enforce
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
    /// Argument path to matcher; every listed path's matcher must hold.
    package var arguments: [ArgumentCondition]? = nil
    package var location: SourceLocation
}

/// `arguments: { path: matcher }`: a path into the call's `params.arguments` and what its value
/// must be.
package struct ArgumentCondition: Sendable {
    package var path: Located<String>
    package var matcher: ArgumentMatcher
}

/// What an argument's value must be. Matchers compare typed values: a string never equals a
/// number, and a matcher given a value of a type it cannot compare cannot be evaluated.
package enum ArgumentMatcher: Sendable, Equatable {
    /// A string matching the pattern (`*` any run of characters, as in tool names).
    case pattern(Glob)
    /// Exactly this value (a string here is not a pattern).
    case equals(ClaimValue)
    /// Any of the matchers holds (the list form).
    case anyOf([ArgumentMatcher])
    /// Equals one of these values.
    case oneOf([ClaimValue])
    /// A number at least this.
    case min(Double)
    /// A number at most this.
    case max(Double)
    /// A string of at most this many Unicode scalars, or an array of at most this many elements.
    case maxLength(Int)
    /// The argument is given (true) or absent (false).
    case present(Bool)
    /// Equals the caller's claim at this path (or one element of an array claim).
    case claim(String)
    /// Every matcher holds (the map form).
    case all([ArgumentMatcher])
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
    /// Annotation values a tool's catalog entry must all have, for `tools/call` of such tools.
    package var annotations: [AnnotationMatch]? = nil
    package var location: SourceLocation
}

/// `annotations: { destructiveHint: true }`: one annotation and the value it must have.
package struct AnnotationMatch: Sendable {
    package var key: Located<String>
    package var value: ClaimValue
}

/// Indirection for the recursive `not:` condition.
package final class Box<Wrapped: Sendable>: Sendable {
    package let value: Wrapped
    package init(_ value: Wrapped) { self.value = value }
}
