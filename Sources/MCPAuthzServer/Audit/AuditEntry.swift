import MCPAuthzPolicy

/// One thing the audit log records, as captured on the request path. Turned into its JSON line
/// (escaped, bounded, chained) by the writer, off the request path.
package struct AuditEntry: Sendable {
    /// Seconds since 1970 when it happened.
    package var time: Double
    package var kind: Kind

    package enum Kind: Sendable {
        /// Boxed: the record is large, and the queue moves entries several times; a box makes
        /// each move one reference count instead of one per string.
        indirect case decision(DecisionRecord)
        case event(AuditEvent)
    }

    package init(time: Double, _ kind: Kind) {
        self.time = time
        self.kind = kind
    }
}

/// Who asked what, and what mcp-authz answered.
package struct DecisionRecord: Sendable {
    package var decisionID: String
    package var requestID: String?
    /// `auth`, `decide` or `filter`.
    package var endpoint: String
    package var serverID: String?
    package var httpMethod: String?
    package var httpPath: String?
    /// The operations decided (one, or a batch).
    package var operations: [MCPOperation]
    package var issuer: String?
    package var subject: String?
    package var email: String?
    package var clientID: String?
    package var scopes: [String]
    package var allowed: Bool
    package var status: Int
    package var reason: String
    package var rule: String?
    package var policyRevision: String
    package var latencyMicroseconds: Int
    /// The first 8 bytes of the token's SHA-256, in hex; never the token.
    package var tokenFingerprint: String?
    /// The argument paths the decision used; each value only when the server's
    /// `audit_arguments` is on.
    package var arguments: [(path: String, value: ClaimValue?)] = []
    /// For `tool_definition_changed`: the pinned and the live definition hashes.
    package var definitionHashes: (pinned: String?, live: String?)?
    /// A `mode: dry_run` rule that would have decided: `would_deny_by` / `would_allow_by`.
    package var wouldDecide: DryRunVerdict?
    /// The shadow policy set's verdict (`--shadow-policies`).
    package var shadow: ShadowVerdict?
    /// The limit that refused a request the rules allowed.
    package var limit: String?
    /// The caller's groups, the token's `email_verified`, and the values of the claims the
    /// server's rules name (nil where the token has none): what a replay of the decision needs.
    package var groups: [String] = []
    package var emailVerified: Bool?
    package var claims: [(path: String, value: ClaimValue?)] = []
    /// Whether the caller was taken as given from AuthZEN subject properties, no token verified.
    package var subjectFromProperties = false

    package init(
        decisionID: String, requestID: String?, endpoint: String, serverID: String?, httpMethod: String?, httpPath: String?,
        operations: [MCPOperation], issuer: String?, subject: String?, email: String?, clientID: String?, scopes: [String], allowed: Bool,
        status: Int, reason: String, rule: String?, policyRevision: String, latencyMicroseconds: Int, tokenFingerprint: String?
    ) {
        self.decisionID = decisionID
        self.requestID = requestID
        self.endpoint = endpoint
        self.serverID = serverID
        self.httpMethod = httpMethod
        self.httpPath = httpPath
        self.operations = operations
        self.issuer = issuer
        self.subject = subject
        self.email = email
        self.clientID = clientID
        self.scopes = scopes
        self.allowed = allowed
        self.status = status
        self.reason = reason
        self.rule = rule
        self.policyRevision = policyRevision
        self.latencyMicroseconds = latencyMicroseconds
        self.tokenFingerprint = tokenFingerprint
    }
}
