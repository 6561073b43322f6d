import Foundation
import Logging
import MCPAuthzPolicy
import MCPAuthzTokens

/// The answer to one authorization question, whichever endpoint asked it.
package struct AuthzOutcome: Sendable {
    /// 200 allow; 401 no usable token; 403 not permitted (or the request could not be decided).
    package var status: Int
    /// A stable reason code: `Decision.Reason`, `TokenFailure.Reason` or `RequestRejection.Reason`.
    package var reason: String
    /// The deciding rule, when a rule decided.
    package var rule: String?
    /// On a denial more scopes would lift: the scopes this operation needs.
    package var requiredScopes: [String]
    package var serverID: String?
    package var identity: Identity?
    /// Whether the request carried a token (a 401 then says `invalid_token`).
    package var tokenSent: Bool
    /// What was decided (empty for GET/DELETE and when the request was refused before).
    package var messages: [MCPMessage]
    package var decisionID: String
    package var policyRevision: String
    /// The first 8 bytes of the token's SHA-256, for the audit log.
    package var tokenFingerprint: String?
    /// When the decision started, to report its latency.
    package var started: ContinuousClock.Instant
    /// Why, for the log; never sent to clients.
    package var detail: String?
    /// The argument paths the deciding rules looked at, with their values when the server's
    /// `audit_arguments` is on.
    package var arguments: [(path: String, value: ClaimValue?)] = []
    /// For `tool_definition_changed`: the catalog's hash of the tool's definition (nil when the
    /// tool is not in it) and the hash it was last listed with.
    package var definitionHashes: (pinned: String?, live: String?)?
    /// A `mode: dry_run` rule that would have decided.
    package var wouldDecide: DryRunVerdict?
    /// Whether the request reached the policy (its token verified and what it does read).
    package var reachedPolicy = false
    /// The shadow policy set's verdict, when one is configured and the policy decided.
    package var shadow: ShadowVerdict?
    /// The limit that refused a request the rules allowed (status 429), and when it would not.
    package var limit: RateLimiter.Refusal?
    /// Whether the caller was taken from AuthZEN subject properties rather than a token.
    package var subjectFromProperties = false

    package var allowed: Bool { status == 200 }

    /// The operations decided: the calls among the messages.
    package var operations: [MCPOperation] {
        messages.compactMap { message in
            if case let .call(operation) = message { return operation }
            return nil
        }
    }
}

extension AuthzOutcome {
    /// The `WWW-Authenticate` value for a denial: the 401 challenge that sends clients to the
    /// server's protected-resource metadata, or `insufficient_scope` on a 403 that more scopes
    /// would lift; nil otherwise or when no server was named.
    func challenge(in runtime: PolicyRuntime) -> String? {
        guard let challenge = serverID.flatMap({ runtime.challenges[$0] }) else { return nil }
        if status == 401 {
            return reason.hasPrefix("dpop_") ? challenge.invalidProof() : challenge.unauthorized(tokenSent: tokenSent)
        }
        if status == 403, !requiredScopes.isEmpty { return challenge.insufficientScope(requiredScopes) }
        return nil
    }

    /// Logs the decision: denials at info, allows at debug (only when debug is on).
    func log(to logger: Logger, method: String, path: String) {
        guard logger.logLevel <= .debug || !allowed else { return }
        var metadata: Logger.Metadata = [
            "authz.decision": "\(allowed ? "allow" : "deny")", "authz.status": "\(status)", "authz.reason": "\(reason)",
            "authz.decision_id": "\(decisionID)", "authz.server": "\(serverID ?? "-")", "http.method": "\(method)",
            "http.path": "\(HeaderValue.sanitized(path, maxBytes: 512))",
        ]
        if let rule { metadata["authz.rule"] = "\(rule)" }
        if let detail { metadata["authz.detail"] = "\(detail)" }
        logger.log(level: allowed ? .debug : .info, "decision", metadata: metadata)
    }
}

extension DecisionRecord {
    /// The audit record of a decision.
    init(_ outcome: AuthzOutcome, endpoint: String, requestID: String?, httpMethod: String?, httpPath: String?, runtime: PolicyRuntime) {
        let identity = outcome.identity
        self.init(
            decisionID: outcome.decisionID, requestID: requestID, endpoint: endpoint, serverID: outcome.serverID, httpMethod: httpMethod,
            httpPath: httpPath,
            operations: outcome.operations,
            issuer: identity.flatMap { runtime.snapshot.issuers[$0.issuerID]?.issuer.value }, subject: identity?.subject,
            email: identity?.email, clientID: identity?.clientID, scopes: identity.map { $0.scopes.sorted() } ?? [],
            allowed: outcome.allowed, status: outcome.status, reason: outcome.reason, rule: outcome.rule,
            policyRevision: outcome.policyRevision, latencyMicroseconds: Int(outcome.started.duration(to: .now).microseconds),
            tokenFingerprint: outcome.tokenFingerprint
        )
        arguments = outcome.arguments
        definitionHashes = outcome.definitionHashes
        wouldDecide = outcome.wouldDecide
        shadow = outcome.shadow
        limit = outcome.limit?.limit
        subjectFromProperties = outcome.subjectFromProperties
        if let identity {
            groups = identity.groups.sorted()
            let named = outcome.serverID.flatMap { runtime.snapshot.servers[$0]?.claimPaths } ?? []
            claims = named.map { path in (path, ClaimValue.lookup(path, in: identity.claims)) }
            emailVerified = identity.emailVerified
        }
    }
}

extension Duration {
    /// Whole microseconds.
    var microseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000 + attoseconds / 1_000_000_000_000
    }
}
