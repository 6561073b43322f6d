import AsyncHTTPClient
import Logging
import MCPAuthzPolicy
import Metrics

/// Verifies bearer tokens for the servers of a policy, with a JWKS cache per issuer and a cache
/// of verified tokens.
///
/// A token whose `kid` is unknown, or whose issuer has no keys yet, triggers one on-demand
/// refresh of that issuer's keys (rate limited, shared by concurrent requests) and one more try.
package final class TokenAuthenticator: Sendable {
    package let caches: [String: JWKSCache]
    package let verifiedTokens: VerifiedTokenCache
    private let verifier: TokenVerifier

    package convenience init(
        issuers: [IssuerConfig], settings: JWKSCacheSettings = JWKSCacheSettings(), httpClient: HTTPClient,
        verifiedTokens: VerifiedTokenCache = VerifiedTokenCache(), verifier: TokenVerifier = TokenVerifier(), logger: Logger,
        metrics: any MetricsFactory = MetricsSystem.factory
    ) {
        let fetcher = JWKSFetcher(client: httpClient, timeout: settings.fetchTimeout, maxBytes: settings.maxDocumentBytes)
        var caches: [String: JWKSCache] = [:]
        for issuer in issuers {
            caches[issuer.id.value] = JWKSCache(issuer: issuer, settings: settings, fetcher: fetcher, logger: logger, metrics: metrics)
        }
        self.init(caches: caches, verifiedTokens: verifiedTokens, verifier: verifier)
    }

    /// An authenticator over key caches made elsewhere: the server keeps an issuer's cache
    /// across policy reloads that leave its key source unchanged.
    package init(caches: [String: JWKSCache], verifiedTokens: VerifiedTokenCache, verifier: TokenVerifier) {
        self.caches = caches
        self.verifiedTokens = verifiedTokens
        self.verifier = verifier
    }

    /// The verified token, or why it is refused, fetching the issuer's keys once when they lack
    /// the token's `kid` (the one refresh-and-retry path: the sidecar's decisions take it).
    /// `now` is seconds since 1970; `key` is the token's cache key when the caller has it.
    package func authenticate(
        _ token: String, key: VerifiedTokenCache.Key? = nil, for server: ServerConfig, in snapshot: PolicySnapshot, now: Double
    ) async throws(TokenFailure) -> VerifiedToken {
        let key = key ?? VerifiedTokenCache.key(token: token, serverID: server.id.value)
        switch try authenticateNow(token, key: key, for: server, in: snapshot, now: now) {
        case let .verified(verified):
            return verified
        case let .needsKeys(cache):
            await cache.refresh(.onDemand)
            // Without `mayRefresh` the answer is a verified token or a refusal, never this case.
            guard case let .verified(verified) = try authenticateNow(token, key: key, for: server, in: snapshot, now: now, mayRefresh: false)
            else { throw TokenFailure(.jwksUnavailable, "no usable keys after a refresh") }
            return verified
        }
    }

    /// What `authenticateNow` found.
    package enum Attempt: Sendable {
        case verified(VerifiedToken)
        /// The issuer's keys lack the token's `kid`, or there are none yet: refresh this cache
        /// (rate limited) and try once more.
        case needsKeys(JWKSCache)
    }

    /// The token checked without waiting on anything: from the cache of verified tokens, or
    /// verified with the keys at hand. Throws the refusal; with `mayRefresh`, asks for a key
    /// refresh instead of refusing for an unknown `kid` or missing keys.
    package func authenticateNow(
        _ token: String, key: VerifiedTokenCache.Key, for server: ServerConfig, in snapshot: PolicySnapshot, now: Double,
        mayRefresh: Bool = true
    ) throws(TokenFailure) -> Attempt {
        // A token verified before counts while its issuer serves the keys that verified it: a
        // key removed or a secret rotated since means verifying it again.
        if let cached = verifiedTokens.get(key, now: now), caches[cached.issuerID]?.currentGeneration() == cached.keyGeneration {
            return .verified(cached)
        }
        var verified: VerifiedToken
        var generation = 0
        do {
            verified = try verifier.verify(
                token, for: server, in: snapshot,
                keys: { [caches] issuerID in
                    guard let current = caches[issuerID]?.current() else { return nil }
                    generation = current.generation
                    return current.keys
                }, now: now
            )
        } catch let failure where mayRefresh && (failure.reason == .unknownKid || failure.reason == .jwksUnavailable) {
            guard let issuerID = failure.issuerID, let cache = caches[issuerID] else { throw failure }
            return .needsKeys(cache)
        }
        verified.keyGeneration = generation
        verifiedTokens.put(key, verified, now: now)
        return .verified(verified)
    }
}
