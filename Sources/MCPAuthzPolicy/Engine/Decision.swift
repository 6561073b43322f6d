/// The answer for one operation, with the reason and the rule that gave it.
package struct Decision: Sendable, Equatable {
    package enum Effect: String, Sendable {
        case allow
        case deny
    }

    /// Stable reason codes, shared by HTTP answers, the audit log and policy tests.
    package enum Reason: String, Sendable, CaseIterable {
        /// A rule allowed the operation and no deny rule matched.
        case allowed
        /// A deny rule matched.
        case deniedByRule = "denied_by_rule"
        /// No rule allowed the operation (default deny).
        case noMatchingRule = "no_matching_rule"
        /// The server named is not in the policy.
        case unknownServer = "unknown_server"
        /// The token's issuer is not one the server accepts: the same code the token checks give
        /// (`TokenFailure.Reason.issuerUntrusted`), so `mcp-authz test`, `/auth`, `/v1/decide`,
        /// the audit log and the metrics name the case alike.
        case issuerUntrusted = "issuer_untrusted"
        /// A rule's condition on the call's arguments could not be evaluated (the body was not
        /// seen and no header carried the argument, or its value is of a type the matcher cannot
        /// compare): a deny rule denied, or an allow rule did not apply and nothing else allowed.
        case argumentsUnavailable = "arguments_unavailable"
        /// The rules allowed the request, but a limit of the server had no room (status 429;
        /// `/auth` answers 403 with `Retry-After`, as `auth_request` passes only 401 and 403).
        case rateLimited = "rate_limited"
    }

    package var effect: Effect
    /// 200 allow; 401 the token cannot be used here; 403 the caller may not do this.
    package var status: Int
    package var reason: Reason
    /// The deciding rule: the first matching deny, or else the first matching allow.
    package var rule: String?
    /// On a default deny that scopes could lift: the scopes to add (sorted).
    package var requiredScopes: [String]
    /// The argument paths the deciding rule's condition looks at (for `arguments_unavailable`,
    /// those of the rule that could not be evaluated).
    package var argumentPaths: [String]
    /// A `mode: dry_run` rule that would have decided, had it been enforced.
    package var wouldDecide: DryRunVerdict?

    package init(
        effect: Effect, status: Int, reason: Reason, rule: String? = nil, requiredScopes: [String] = [], argumentPaths: [String] = []
    ) {
        self.effect = effect
        self.status = status
        self.reason = reason
        self.rule = rule
        self.requiredScopes = requiredScopes
        self.argumentPaths = argumentPaths
    }

    package var isAllowed: Bool { effect == .allow }
}

/// What a `mode: dry_run` rule would have done: the effect it would have decided, and its name.
package struct DryRunVerdict: Sendable, Equatable {
    package var effect: Decision.Effect
    package var rule: String

    package init(effect: Decision.Effect, rule: String) {
        self.effect = effect
        self.rule = rule
    }

    /// The audit and API field that says it: `would_deny_by` or `would_allow_by`.
    package var field: String { effect == .deny ? "would_deny_by" : "would_allow_by" }
}
