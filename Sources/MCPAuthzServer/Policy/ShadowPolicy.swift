import Foundation
import MCPAuthzPolicy
import Synchronization

/// The shadow policy set (`serve --shadow-policies`): loaded and validated like the policy in
/// force (an invalid one stops the start, and a reload keeps the last good one), reloaded with
/// it, and decided beside it on every request that reaches the policy. It never changes an
/// answer: its verdict goes to the audit record, a metric and `/v1/decide`.
package final class ShadowPolicy: Sendable {
    /// A loaded shadow set and the revision of its files.
    package struct Loaded: Sendable {
        package let snapshot: PolicySnapshot
        package let revision: String
    }

    package let path: String
    let limits: PolicyLoadLimits
    private let current: Mutex<Loaded>

    package init(path: String, limits: PolicyLoadLimits) throws(PolicyLoadError) {
        self.path = path
        self.limits = limits
        current = Mutex(try Self.load(path: path, limits: limits))
    }

    package var loaded: Loaded { current.withLock { $0 } }

    /// The catalogs the shadow set reads, watched with its files.
    var catalogFiles: [String] { loaded.snapshot.policy.servers.compactMap { $0.catalog?.file } }

    /// Loads the files again; installs them when valid and changed. Nil when unchanged.
    func reload() -> Result<Loaded, PolicyLoadError>? {
        let fresh: Loaded
        do throws(PolicyLoadError) {
            fresh = try Self.load(path: path, limits: limits)
        } catch {
            return .failure(error)
        }
        guard fresh.revision != loaded.revision else { return nil }
        current.withLock { $0 = fresh }
        return .success(fresh)
    }

    /// Whether two issuer configurations read the same identity out of the same claims.
    static func readAlike(_ a: IssuerConfig, _ b: IssuerConfig) -> Bool {
        a.id.value == b.id.value && a.scopeClaims == b.scopeClaims && a.emailClaim == b.emailClaim
            && a.requireEmailVerified == b.requireEmailVerified && a.groupsClaim == b.groupsClaim
    }

    private static func load(path: String, limits: PolicyLoadLimits) throws(PolicyLoadError) -> Loaded {
        let result = try PolicyLoader(limits: limits).load(path: path)
        return Loaded(snapshot: PolicySnapshot(result.policy), revision: PolicyRuntime.revision(of: result.sources))
    }

    /// The shadow set's verdict on a request the policy in force decided for `serverID`: the
    /// caller as the shadow's issuer configuration reads the verified claims (the policy in
    /// force's reading, when both configure that issuer alike), each operation decided as the
    /// policy in force decides them (the first refusal decides).
    package func verdict(serverID: String, caller: Identity, readBy primary: IssuerConfig?, operations: [MCPOperation]) -> ShadowVerdict {
        let loaded = self.loaded
        guard let iss = caller.claims["iss"]?.stringValue, let issuer = loaded.snapshot.issuersByURL[iss] else {
            return ShadowVerdict(status: 401, reason: Decision.Reason.issuerUntrusted.rawValue, rule: nil, revision: loaded.revision)
        }
        let identity = primary.map { Self.readAlike($0, issuer) } == true ? caller : Identity(claims: caller.claims, issuer: issuer)
        let decision = loaded.snapshot.decide(serverID: serverID, identity: identity, operations: operations)
        return ShadowVerdict(status: decision.status, reason: decision.reason.rawValue, rule: decision.rule, revision: loaded.revision)
    }
}

/// What the shadow policy set would have answered.
package struct ShadowVerdict: Sendable, Equatable {
    package var status: Int
    package var reason: String
    package var rule: String?
    package var revision: String

    package var allowed: Bool { status == 200 }

    /// How it compares with the answer given: `same`, `would_allow` or `would_deny`.
    package func agreement(with allowed: Bool) -> String {
        allowed == self.allowed ? "same" : (self.allowed ? "would_allow" : "would_deny")
    }
}

extension ShadowVerdict {
    /// The fields of the audit record's and `/v1/decide`'s `shadow` object.
    func write(into json: inout JSONWriter) {
        json.field("decision", allowed ? "allow" : "deny")
        json.field("status", status)
        json.field("reason", reason)
        json.field("rule", rule.map(AuditLine.bounded))
        json.field("policy_revision", revision)
    }
}
