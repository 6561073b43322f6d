import Foundation
import MCPAuthzPolicy
import MCPAuthzTokens

/// One authorization question, whichever endpoint asks it.
package struct AuthzQuestion {
    /// The policy in force when the request arrived: the whole decision uses this one.
    package var runtime: PolicyRuntime
    /// The server asked about; nil when none matched.
    package var serverID: String?
    /// Finds the request's token for the server, as presented (scheme, DPoP proofs, the request).
    package var token: (ServerConfig) throws(TokenFailure) -> PresentedToken
    /// What the request does, read for the server (whose catalog says which `Mcp-Param-*`
    /// headers carry arguments); nil for a decision on identity and server alone.
    package var messages: (ServerConfig) throws(RequestRejection) -> [MCPMessage]?
    /// The client's address as the proxy gave it, for limits keyed by `client_ip`.
    package var clientIP: String?
    /// Whether an allowed request counts against the server's limits (a list filter does not).
    package var limited: Bool
    /// Whether the token's DPoP binding is checked (a list filter, asked by the MCP server after
    /// the request itself passed, does not check it).
    package var checksProof: Bool
    /// A caller taken as given instead of a token (AuthZEN subject properties, only with
    /// `--authzen-trust-subject-properties`): no token is looked for or verified.
    package var trustedCaller: Identity?
    /// The subject the asker says the request is for (AuthZEN `subject.id`): the verified
    /// caller's `sub` (or, without one, its client id) must be it.
    package var expectedSubject: String?
    /// The request's `Origin` values, checked against the server's `allowed_origins`.
    package var origins: [String] = []

    package init(
        runtime: PolicyRuntime, serverID: String?, token: @escaping (ServerConfig) throws(TokenFailure) -> PresentedToken,
        messages: @escaping (ServerConfig) throws(RequestRejection) -> [MCPMessage]?, clientIP: String? = nil, limited: Bool = true,
        checksProof: Bool = true
    ) {
        self.runtime = runtime
        self.serverID = serverID
        self.token = token
        self.messages = messages
        self.clientIP = clientIP
        self.limited = limited
        self.checksProof = checksProof
        trustedCaller = nil
        expectedSubject = nil
    }
}

/// Decides requests against the policy in force: finds the token, verifies it for the server,
/// works out the MCP operations and asks the policy about each. Any failure denies, and so does
/// an audit log that cannot write when it is set to fail closed.
package final class Authorizer: Sendable {
    package let store: PolicyStore
    let metrics: SidecarMetrics
    package let audit: AuditLog?
    let ids = DecisionIDs()
    /// Live tool definitions, for servers that pin them.
    package let definitions = DefinitionWatch()
    /// The shadow policy set, decided beside the policy in force.
    let shadow: ShadowPolicy?
    /// The limits' state, across reloads.
    package let limiter: RateLimiter
    /// DPoP proof checks and the proof ids seen, across reloads.
    package let dpop: DPoPVerifier

    package init(
        store: PolicyStore, metrics: SidecarMetrics, audit: AuditLog?, shadow: ShadowPolicy? = nil,
        limiter: RateLimiter = RateLimiter(maxKeys: 100_000), dpop: DPoPVerifier = DPoPVerifier()
    ) {
        self.dpop = dpop
        self.store = store
        self.metrics = metrics
        self.audit = audit
        self.shadow = shadow
        self.limiter = limiter
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

    /// One decision. A token whose issuer's keys lack its `kid` (or has none yet) waits for
    /// one refresh of those keys (`TokenAuthenticator.authenticate`, the one refresh-and-retry
    /// path).
    package func decide(_ question: AuthzQuestion) async -> AuthzOutcome {
        switch prepare(question, started: .now) {
        case let .decided(outcome):
            return finish(outcome)
        case let .trusted(outcome, server, caller):
            return finish(conclude(question, outcome, server, caller))
        case let .verify(outcome, server, presented, key):
            do throws(TokenFailure) {
                let verified = try await question.runtime.authenticator.authenticate(
                    presented.token, key: key, for: server, in: question.runtime.snapshot, now: Date().timeIntervalSince1970
                )
                try checkProof(question, presented, verified)
                return finish(conclude(question, outcome, server, verified))
            } catch {
                return finish(refused(outcome, error))
            }
        }
    }

    /// The same decision without suspending, for the event loop's fast path: nil when the token
    /// needs its issuer's keys fetched first (the caller then takes `decide`).
    package func decideNow(_ question: AuthzQuestion) -> AuthzOutcome? {
        switch prepare(question, started: .now) {
        case let .decided(outcome):
            return finish(outcome)
        case let .trusted(outcome, server, caller):
            return finish(conclude(question, outcome, server, caller))
        case let .verify(outcome, server, presented, key):
            do throws(TokenFailure) {
                let attempt = try question.runtime.authenticator.authenticateNow(
                    presented.token, key: key, for: server, in: question.runtime.snapshot, now: Date().timeIntervalSince1970
                )
                guard case let .verified(verified) = attempt else { return nil }
                try checkProof(question, presented, verified)
                return finish(conclude(question, outcome, server, verified))
            } catch {
                return finish(refused(outcome, error))
            }
        }
    }

    /// Applies the audit log's health and counts the decision.
    private func finish(_ decided: AuthzOutcome) -> AuthzOutcome {
        var outcome = decided
        if outcome.allowed, let audit, !audit.permitsAllow { outcome = withheld(outcome) }
        metrics.recordDecision(
            server: outcome.serverID, allowed: outcome.allowed, reason: outcome.reason, duration: outcome.started.duration(to: .now)
        )
        return outcome
    }

    /// The reason code of a denial caused by an audit log that cannot write.
    package static let auditUnavailable = "audit_unavailable"

    /// The reason code of an AuthZEN evaluation whose `subject.id` is not the token's subject.
    package static let subjectMismatch = "subject_mismatch"

    /// An allow turned into a denial because its audit record cannot be kept: the log fails
    /// closed and is not writing (decided so), or the record was dropped after the decision.
    package func withheld(_ allowed: AuthzOutcome) -> AuthzOutcome {
        var outcome = allowed
        outcome.status = 403
        outcome.reason = Self.auditUnavailable
        outcome.rule = nil
        outcome.detail = "the audit log cannot be written and is set to fail closed"
        return outcome
    }

    /// Whether an allow whose record was just dropped must be answered as a denial instead.
    func mustWithhold(_ outcome: AuthzOutcome) -> Bool {
        outcome.allowed && (audit?.settings.failClosed ?? false)
    }

    /// Hands a decision's record (`entry`) to the audit log, waiting as `AuditLog.record` does.
    /// An allow whose record is not kept (dropped, or not written before the log failed) comes
    /// back, when the log fails closed, as the denial `withheld` makes, whose record is handed
    /// on too. What every entry answers but the fast path, which waits on its event loop
    /// (`ForwardAuthEndpoint.FastAnswer`).
    func recorded(_ outcome: AuthzOutcome, as entry: (AuthzOutcome) -> AuditEntry) async -> AuthzOutcome {
        guard let audit, !(await audit.record(entry(outcome))), mustWithhold(outcome) else { return outcome }
        let denial = withheld(outcome)
        await audit.record(entry(denial))
        return denial
    }

    /// What a question comes to before its token is verified.
    private enum Prepared {
        case decided(AuthzOutcome)
        /// Verify the token for `server`, check its DPoP binding, then `conclude`.
        case verify(AuthzOutcome, ServerConfig, PresentedToken, key: VerifiedTokenCache.Key)
        /// A caller the asker vouches for: `conclude` with it.
        case trusted(AuthzOutcome, ServerConfig, VerifiedToken)
    }

    /// The token's binding under its issuer's `dpop` mode: checked on every request (a proof is
    /// for one request), never cached with the token.
    private func checkProof(_ question: AuthzQuestion, _ presented: PresentedToken, _ verified: VerifiedToken) throws(TokenFailure) {
        guard question.checksProof, let issuer = question.runtime.snapshot.issuers[verified.issuerID] else { return }
        try dpop.check(presented, token: verified, mode: issuer.dpop, leeway: Double(issuer.leewaySeconds), now: Date().timeIntervalSince1970)
    }

    /// Finds the server and the token: no server or no token decides already.
    private func prepare(_ question: AuthzQuestion, started: ContinuousClock.Instant) -> Prepared {
        var outcome = AuthzOutcome(
            status: 403, reason: Decision.Reason.unknownServer.rawValue, rule: nil, requiredScopes: [], serverID: question.serverID,
            identity: nil, tokenSent: false, messages: [], decisionID: ids.next(), policyRevision: question.runtime.revision,
            tokenFingerprint: nil, started: started, detail: nil
        )
        guard let serverID = question.serverID, let server = question.runtime.snapshot.servers[serverID]?.config else {
            outcome.detail = "no server of the policy matches the request"
            return .decided(outcome)
        }
        guard server.allows(origins: question.origins) else {
            outcome.reason = RequestRejection.Reason.originNotAllowed.rawValue
            outcome.detail = "the request's Origin is not one of server '\(server.id.value)''s allowed_origins"
            return .decided(outcome)
        }
        if let caller = question.trustedCaller {
            outcome.subjectFromProperties = true
            return .trusted(outcome, server, VerifiedToken(identity: caller, issuerID: caller.issuerID, kid: nil, expiresAt: .infinity))
        }
        let presented: PresentedToken
        do throws(TokenFailure) {
            presented = try question.token(server)
        } catch {
            outcome.tokenSent = error.reason != .tokenMissing
            return .decided(refused(outcome, error))
        }
        outcome.tokenSent = true
        let key = VerifiedTokenCache.key(token: presented.token, serverID: server.id.value)
        outcome.tokenFingerprint = key.fingerprint
        return .verify(outcome, server, presented, key: key)
    }

    /// The argument paths a decision used, for the audit record, with their values when the
    /// server audits them (an argument not seen has none).
    static func audited(_ paths: [String], of operation: MCPOperation, _ server: ServerConfig) -> [(path: String, value: ClaimValue?)] {
        paths.map { path in
            guard server.auditArguments, case let .value(value) = operation.arguments.lookup(path) else { return (path, nil) }
            return (path, value)
        }
    }

    /// A token refused: 401 with the reason.
    private func refused(_ prepared: AuthzOutcome, _ failure: TokenFailure) -> AuthzOutcome {
        var outcome = prepared
        outcome.status = 401
        outcome.reason = failure.reason.rawValue
        outcome.detail = failure.message
        return outcome
    }

    /// With the caller known: what the policy says, and beside it what the shadow set says.
    private func conclude(_ question: AuthzQuestion, _ prepared: AuthzOutcome, _ server: ServerConfig, _ verified: VerifiedToken) -> AuthzOutcome {
        if let expected = question.expectedSubject, expected != verified.identity.subject ?? verified.identity.clientID {
            var outcome = prepared
            outcome.identity = verified.identity
            outcome.reason = Self.subjectMismatch
            outcome.detail = "the subject asked about is not the token's subject"
            return outcome
        }
        var outcome = decideByPolicy(question, prepared, server, verified)
        // Beside a decision the policy took (not a request refused before it), the shadow set
        // decides the same operations for the same server, compared with the policy's answer.
        if let shadow, outcome.reachedPolicy {
            let verdict = shadow.verdict(
                serverID: server.id.value, caller: verified.identity,
                readBy: question.runtime.snapshot.issuers[verified.identity.issuerID], operations: outcome.operations
            )
            outcome.shadow = verdict
            metrics.recordShadow(server: server.id.value, agreement: verdict.agreement(with: outcome.allowed))
        }
        return outcome
    }

    /// With the caller known: what the request does, and what the policy says of each part.
    private func decideByPolicy(
        _ question: AuthzQuestion, _ prepared: AuthzOutcome, _ server: ServerConfig, _ verified: VerifiedToken
    ) -> AuthzOutcome {
        var outcome = prepared
        outcome.identity = verified.identity
        let asked: [MCPMessage]?
        do throws(RequestRejection) {
            asked = try question.messages(server)
        } catch {
            outcome.reason = error.reason.rawValue
            outcome.detail = error.message
            return outcome
        }
        outcome.reachedPolicy = true
        guard let asked else {
            outcome.status = 200
            outcome.reason = Decision.Reason.allowed.rawValue
            return outcome
        }
        outcome.messages = asked
        var allowingRule: String?
        for message in asked {
            guard case let .call(operation) = message else { continue }
            if server.pinDefinitions, let catalog = server.catalog, operation.method == "tools/call", let tool = operation.target?.name,
                let problem = definitions.problem(server: server.id.value, tool: tool, catalog: catalog)
            {
                outcome.status = 403
                outcome.reason = RequestRejection.Reason.toolDefinitionChanged.rawValue
                outcome.definitionHashes = problem
                outcome.detail =
                    problem.pinned == nil
                    ? "tool '\(tool)' is not in the catalog, and the server pins its definitions"
                    : "tool '\(tool)' was listed with a definition other than the catalog's"
                return outcome
            }
            let decision = question.runtime.snapshot.decide(
                DecisionInput(serverID: server.id.value, identity: verified.identity, operation: operation)
            )
            if !decision.argumentPaths.isEmpty { outcome.arguments = Self.audited(decision.argumentPaths, of: operation, server) }
            if outcome.wouldDecide == nil { outcome.wouldDecide = decision.wouldDecide }
            if !decision.isAllowed {
                outcome.status = decision.status
                outcome.reason = decision.reason.rawValue
                outcome.rule = decision.rule
                outcome.requiredScopes = decision.requiredScopes
                outcome.detail = "denied: \(operation)"
                return outcome
            }
            if allowingRule == nil { allowingRule = decision.rule }
        }
        outcome.status = 200
        outcome.reason = Decision.Reason.allowed.rawValue
        outcome.rule = allowingRule
        // Allowed by the rules: now every limit that applies must have room.
        if question.limited, !server.limits.isEmpty, let compiled = question.runtime.snapshot.servers[server.id.value] {
            let charges = compiled.charges(verified.identity, outcome.operations, clientIP: question.clientIP)
            if let refusal = limiter.admit(charges, at: RateLimiter.now()) {
                outcome.status = 429
                outcome.reason = Decision.Reason.rateLimited.rawValue
                outcome.limit = refusal
                outcome.detail = "limit '\(refusal.limit)' has no room for \(refusal.retryAfter) s"
                metrics.recordRateLimited(server: server.id.value, limit: refusal.limit)
            }
        }
        return outcome
    }
}
