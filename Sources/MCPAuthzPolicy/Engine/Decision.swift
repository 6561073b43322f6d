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
    }

    package var effect: Effect
    /// 200 allow; 401 the token cannot be used here; 403 the caller may not do this.
    package var status: Int
    package var reason: Reason
    /// The deciding rule: the first matching deny, or else the first matching allow.
    package var rule: String?
    /// On a default deny that scopes could lift: the scopes to add (sorted).
    package var requiredScopes: [String]

    package init(effect: Effect, status: Int, reason: Reason, rule: String? = nil, requiredScopes: [String] = []) {
        self.effect = effect
        self.status = status
        self.reason = reason
        self.rule = rule
        self.requiredScopes = requiredScopes
    }

    package var isAllowed: Bool { effect == .allow }
}
