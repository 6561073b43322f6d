import Foundation
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

    package var allowed: Bool { status == 200 }
}

/// Decides requests against the policy in force: finds the token, verifies it for the server,
/// works out the MCP operations and asks the policy about each. Any failure denies, and so does
/// an audit log that cannot write when it is set to fail closed.
package final class Authorizer: Sendable {
    package let store: PolicyStore
    let metrics: SidecarMetrics
    package let audit: AuditLog?
    let ids = DecisionIDs()

    package init(store: PolicyStore, metrics: SidecarMetrics, audit: AuditLog?) {
        self.store = store
        self.metrics = metrics
        self.audit = audit
    }

    /// A request refused before any server could be named (its forward headers are unusable).
    package func refuse(in runtime: PolicyRuntime, _ rejection: RequestRejection) -> AuthzOutcome {
        metrics.recordDecision(server: nil, allowed: false, reason: rejection.reason.rawValue, duration: .zero)
        return AuthzOutcome(
            status: 403, reason: rejection.reason.rawValue, rule: nil, requiredScopes: [], serverID: nil, identity: nil, tokenSent: false,
            messages: [], decisionID: ids.next(), policyRevision: runtime.revision, tokenFingerprint: nil, started: .now,
            detail: rejection.message
        )
    }

    /// One decision.
    /// - Parameters:
    ///   - serverID: the server asked about; nil when none matched.
    ///   - token: finds the request's token for the server.
    ///   - messages: what the request does, nil for a decision on identity and server alone.
    package func decide(
        in runtime: PolicyRuntime, serverID: String?, token: (ServerConfig) throws(TokenFailure) -> String,
        messages: () throws(RequestRejection) -> [MCPMessage]?
    ) async -> AuthzOutcome {
        let started = ContinuousClock.now
        switch evaluate(in: runtime, serverID: serverID, token: token, messages: messages, started: started, mayRefresh: true) {
        case let .decided(outcome):
            return finish(outcome)
        case let .needsKeys(cache):
            await cache.refresh(.onDemand)
            switch evaluate(in: runtime, serverID: serverID, token: token, messages: messages, started: started, mayRefresh: false) {
            case let .decided(outcome): return finish(outcome)
            case .needsKeys: return finish(unavailableKeys(in: runtime, serverID: serverID, started: started))
            }
        }
    }

    /// The same decision without suspending, for the event loop's fast path: nil when it needs
    /// an issuer's keys fetched first (the caller then takes the asynchronous path).
    package func decideNow(
        in runtime: PolicyRuntime, serverID: String?, token: (ServerConfig) throws(TokenFailure) -> String,
        messages: () throws(RequestRejection) -> [MCPMessage]?
    ) -> AuthzOutcome? {
        let evaluation = evaluate(in: runtime, serverID: serverID, token: token, messages: messages, started: .now, mayRefresh: true)
        guard case let .decided(outcome) = evaluation else { return nil }
        return finish(outcome)
    }

    /// Applies the audit log's health and counts the decision.
    private func finish(_ decided: AuthzOutcome) -> AuthzOutcome {
        var outcome = decided
        if outcome.allowed, let audit, !audit.permitsAllow {
            outcome.status = 403
            outcome.reason = Self.auditUnavailable
            outcome.detail = "the audit log cannot be written and is set to fail closed"
        }
        metrics.recordDecision(
            server: outcome.serverID, allowed: outcome.allowed, reason: outcome.reason, duration: outcome.started.duration(to: .now)
        )
        return outcome
    }

    /// Never expected: a second evaluation without refresh cannot ask for keys again.
    private func unavailableKeys(in runtime: PolicyRuntime, serverID: String?, started: ContinuousClock.Instant) -> AuthzOutcome {
        AuthzOutcome(
            status: 401, reason: TokenFailure.Reason.jwksUnavailable.rawValue, rule: nil, requiredScopes: [], serverID: serverID,
            identity: nil, tokenSent: true, messages: [], decisionID: ids.next(), policyRevision: runtime.revision, tokenFingerprint: nil,
            started: started, detail: "no usable keys after a refresh"
        )
    }

    /// What `evaluate` came to.
    private enum Evaluation {
        case decided(AuthzOutcome)
        /// The token's issuer needs its keys refreshed before the token can be judged.
        case needsKeys(JWKSCache)
    }

    /// The reason code of a denial caused by an audit log that cannot write.
    package static let auditUnavailable = "audit_unavailable"

    private func evaluate(
        in runtime: PolicyRuntime, serverID: String?, token: (ServerConfig) throws(TokenFailure) -> String,
        messages: () throws(RequestRejection) -> [MCPMessage]?, started: ContinuousClock.Instant, mayRefresh: Bool
    ) -> Evaluation {
        var outcome = AuthzOutcome(
            status: 403, reason: Decision.Reason.unknownServer.rawValue, rule: nil, requiredScopes: [], serverID: serverID, identity: nil,
            tokenSent: false, messages: [], decisionID: ids.next(), policyRevision: runtime.revision, tokenFingerprint: nil,
            started: started, detail: nil
        )
        guard let serverID, let server = runtime.snapshot.servers[serverID]?.config else {
            outcome.detail = "no server of the policy matches the request"
            return .decided(outcome)
        }
        let verified: VerifiedToken
        do throws(TokenFailure) {
            let found: String
            do throws(TokenFailure) {
                found = try token(server)
            } catch {
                outcome.tokenSent = error.reason != .tokenMissing
                throw error
            }
            outcome.tokenSent = true
            let key = VerifiedTokenCache.key(token: found, serverID: server.id.value)
            outcome.tokenFingerprint = key.fingerprint
            let attempt = try runtime.authenticator.authenticateNow(
                found, key: key, for: server, in: runtime.snapshot, now: Date().timeIntervalSince1970, mayRefresh: mayRefresh
            )
            switch attempt {
            case let .verified(token): verified = token
            case let .needsKeys(cache): return .needsKeys(cache)
            }
        } catch {
            outcome.status = 401
            outcome.reason = error.reason.rawValue
            outcome.detail = error.message
            return .decided(outcome)
        }
        outcome.identity = verified.identity
        let asked: [MCPMessage]?
        do throws(RequestRejection) {
            asked = try messages()
        } catch {
            outcome.reason = error.reason.rawValue
            outcome.detail = error.message
            return .decided(outcome)
        }
        guard let asked else {
            outcome.status = 200
            outcome.reason = Decision.Reason.allowed.rawValue
            return .decided(outcome)
        }
        outcome.messages = asked
        var allowingRule: String?
        for message in asked {
            guard case let .call(operation) = message else { continue }
            let decision = runtime.snapshot.decide(DecisionInput(serverID: serverID, identity: verified.identity, operation: operation))
            if !decision.isAllowed {
                outcome.status = decision.status
                outcome.reason = decision.reason.rawValue
                outcome.rule = decision.rule
                outcome.requiredScopes = decision.requiredScopes
                outcome.detail = "denied: \(operation)"
                return .decided(outcome)
            }
            if allowingRule == nil { allowingRule = decision.rule }
        }
        outcome.status = 200
        outcome.reason = Decision.Reason.allowed.rawValue
        outcome.rule = allowingRule
        return .decided(outcome)
    }
}
