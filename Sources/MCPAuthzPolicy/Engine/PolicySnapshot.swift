/// An immutable, compiled policy: what every decision reads.
///
/// Built once per load; the server swaps whole snapshots on reload, so no decision ever sees
/// parts of two policies. Deciding does no I/O, reads no clock and allocates little.
package struct PolicySnapshot: Sendable {
    package let policy: PolicySet
    package let servers: [String: CompiledServer]
    package let issuers: [String: IssuerConfig]
    /// Issuers by their exact `iss` value.
    package let issuersByURL: [String: IssuerConfig]
    package let router: ServerRouter

    package init(_ policy: PolicySet) {
        self.policy = policy
        var servers: [String: CompiledServer] = [:]
        for server in policy.servers { servers[server.id.value] = CompiledServer(server) }
        self.servers = servers
        issuers = Dictionary(policy.issuers.map { ($0.id.value, $0) }, uniquingKeysWith: { first, _ in first })
        issuersByURL = Dictionary(policy.issuers.map { ($0.issuer.value, $0) }, uniquingKeysWith: { first, _ in first })
        router = ServerRouter(policy.servers)
    }

    /// Loads, validates and compiles the policy at a path.
    package static func load(path: String, limits: PolicyLoadLimits = .default) throws(PolicyLoadError) -> (
        snapshot: PolicySnapshot, warnings: [PolicyDiagnostic]
    ) {
        let result = try PolicyLoader(limits: limits).load(path: path)
        return (PolicySnapshot(result.policy), result.warnings)
    }

    /// Decides one operation. Default deny; any matching deny wins over every allow.
    package func decide(_ input: DecisionInput) -> Decision {
        guard let server = servers[input.serverID] else {
            return Decision(effect: .deny, status: 403, reason: .unknownServer)
        }
        return server.decide(input.identity, input.operation)
    }

    /// Decides a whole request for one server as `/auth` does: each operation in turn, the
    /// first refusal decides, else the first allowing rule is named. A request that names no
    /// operation (GET, DELETE, a list filter) needs only the server and the caller's issuer.
    package func decide(serverID: String, identity: Identity, operations: [MCPOperation]) -> Decision {
        guard let server = servers[serverID] else { return Decision(effect: .deny, status: 403, reason: .unknownServer) }
        guard !operations.isEmpty else {
            guard server.acceptedIssuers.contains(identity.issuerID) else {
                return Decision(effect: .deny, status: 401, reason: .issuerUntrusted)
            }
            return Decision(effect: .allow, status: 200, reason: .allowed)
        }
        var allowingRule: String?
        for operation in operations {
            let decision = server.decide(identity, operation)
            guard decision.isAllowed else { return decision }
            if allowingRule == nil { allowingRule = decision.rule }
        }
        return Decision(effect: .allow, status: 200, reason: .allowed, rule: allowingRule)
    }

    /// The identity a verified token's claims describe, read as its issuer (found by `iss`) is
    /// configured; nil when no issuer of the policy has that `iss`.
    package func identity(fromClaims claims: [String: ClaimValue]) -> Identity? {
        guard let iss = claims["iss"]?.stringValue, let issuer = issuersByURL[iss] else { return nil }
        return Identity(claims: claims, issuer: issuer)
    }

    /// `" (did you mean 'https://acme.us.auth0.com/'?)"` when an `iss` that names no issuer is a
    /// slip away from one (Auth0's trailing slash), else nothing.
    package func issuerHint(for iss: String) -> String {
        Suggestion.hint(for: iss, in: issuersByURL.keys)
    }
}
