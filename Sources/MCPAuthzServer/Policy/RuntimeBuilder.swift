import AsyncHTTPClient
import Foundation
import Logging
import MCPAuthzPolicy
import MCPAuthzTokens
import Metrics

/// Loads the policy at the configured path into a `PolicyRuntime`.
///
/// An issuer whose key source (issuer URL, JWKS URI or file, algorithms) is unchanged keeps its
/// key cache across reloads, so a policy edit never makes the sidecar refetch every JWKS or
/// drop keys it has. Verified tokens and introspection answers are never carried over: claims
/// mapping, audiences and accepted issuers may all have changed. An issuer whose tokens are all
/// introspected has no key cache.
package struct RuntimeBuilder: Sendable {
    let settings: SidecarSettings
    let httpClient: HTTPClient
    let logger: Logger
    let metrics: any MetricsFactory
    let audit: AuditLog?

    package init(settings: SidecarSettings, httpClient: HTTPClient, logger: Logger, metrics: any MetricsFactory, audit: AuditLog?) {
        self.settings = settings
        self.httpClient = httpClient
        self.logger = logger
        self.metrics = metrics
        self.audit = audit
    }

    package func build(previous: PolicyRuntime?) throws(PolicyLoadError) -> PolicyRuntime {
        let loaded = try PolicyLoader(limits: settings.policyLimits).load(path: settings.policyPath)
        let snapshot = PolicySnapshot(loaded.policy)
        let fetcher = JWKSFetcher(client: httpClient, timeout: settings.jwks.fetchTimeout, maxBytes: settings.jwks.maxDocumentBytes)
        var onRefresh: (@Sendable (JWKSCache.RefreshOutcome) -> Void)?
        if let audit { onRefresh = { outcome in Self.record(outcome, in: audit) } }
        var caches: [String: JWKSCache] = [:]
        var keySources: [String: KeySource] = [:]
        var introspectors: [String: Introspector] = [:]
        for issuer in loaded.policy.issuers {
            let id = issuer.id.value
            // Introspection answers are never carried over, as verified tokens are not.
            if let config = issuer.introspection {
                introspectors[id] = Introspector(
                    issuer: issuer, config: config, client: httpClient, settings: settings.introspection, logger: logger, metrics: metrics
                )
            }
            guard issuer.verifiesJWTs else { continue }
            let source = KeySource(issuer)
            keySources[id] = source
            if let previous, previous.keySources[id] == source, let kept = previous.authenticator.caches[id] {
                caches[id] = kept
            } else {
                caches[id] = JWKSCache(
                    issuer: issuer, settings: settings.jwks, fetcher: fetcher, logger: logger, metrics: metrics,
                    onRefresh: onRefresh
                )
            }
        }
        let authenticator = TokenAuthenticator(
            caches: caches, introspectors: introspectors, verifiedTokens: VerifiedTokenCache(capacity: settings.tokenCacheCapacity, metrics: metrics),
            verifier: TokenVerifier(maxTokenBytes: settings.maxTokenBytes)
        )
        return PolicyRuntime(
            snapshot: snapshot, revision: PolicyRuntime.revision(of: loaded.sources), authenticator: authenticator,
            keySources: keySources, warnings: loaded.warnings
        )
    }

    private static func record(_ outcome: JWKSCache.RefreshOutcome, in audit: AuditLog) {
        let result: AuditEvent.JWKSRefreshResult =
            if let error = outcome.error { .failure(error: error, servingLastGood: outcome.servingLastGood) } else { .success(keys: outcome.keys) }
        audit.event(.jwksRefresh(issuer: outcome.issuerID, outcome: result))
    }
}
