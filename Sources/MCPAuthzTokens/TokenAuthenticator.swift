import AsyncHTTPClient
import Foundation
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
    /// The introspection endpoints of issuers whose tokens are (or may be) opaque, by issuer id.
    package let introspectors: [String: Introspector]
    package let verifiedTokens: VerifiedTokenCache
    private let verifier: TokenVerifier

    package convenience init(
        issuers: [IssuerConfig], settings: JWKSCacheSettings = JWKSCacheSettings(), httpClient: HTTPClient,
        verifiedTokens: VerifiedTokenCache = VerifiedTokenCache(), verifier: TokenVerifier = TokenVerifier(),
        introspection: IntrospectionSettings = IntrospectionSettings(), logger: Logger, metrics: any MetricsFactory = MetricsSystem.factory
    ) {
        let fetcher = JWKSFetcher(client: httpClient, timeout: settings.fetchTimeout, maxBytes: settings.maxDocumentBytes)
        var caches: [String: JWKSCache] = [:]
        var introspectors: [String: Introspector] = [:]
        for issuer in issuers {
            if issuer.verifiesJWTs {
                caches[issuer.id.value] = JWKSCache(issuer: issuer, settings: settings, fetcher: fetcher, logger: logger, metrics: metrics)
            }
            if let config = issuer.introspection {
                introspectors[issuer.id.value] = Introspector(
                    issuer: issuer, config: config, client: httpClient, settings: introspection, logger: logger, metrics: metrics
                )
            }
        }
        self.init(caches: caches, introspectors: introspectors, verifiedTokens: verifiedTokens, verifier: verifier)
    }

    /// An authenticator over key caches made elsewhere: the server keeps an issuer's cache
    /// across policy reloads that leave its key source unchanged.
    package init(
        caches: [String: JWKSCache], introspectors: [String: Introspector] = [:], verifiedTokens: VerifiedTokenCache, verifier: TokenVerifier
    ) {
        self.caches = caches
        self.introspectors = introspectors
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
        case let .needsIntrospection(introspector):
            let answer = await introspector.introspect(token, digest: key.digest)
            return try accept(answer, from: introspector.issuer, key: key, for: server, now: Date().timeIntervalSince1970)
        }
    }

    /// What `authenticateNow` found.
    package enum Attempt: Sendable {
        case verified(VerifiedToken)
        /// The issuer's keys lack the token's `kid`, or there are none yet: refresh this cache
        /// (rate limited) and try once more.
        case needsKeys(JWKSCache)
        /// The token is for this issuer's introspection endpoint, which has no answer kept for
        /// it: ask (`Introspector.introspect`), then `accept` the answer.
        case needsIntrospection(Introspector)
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
        if let cached = verifiedTokens.get(key, now: now),
            cached.introspected || caches[cached.issuerID]?.currentGeneration() == cached.keyGeneration
        {
            return .verified(cached)
        }
        if let introspector = try introspector(for: token, server: server, in: snapshot) {
            guard let answer = introspector.cached(key.digest, now: now) else { return .needsIntrospection(introspector) }
            return .verified(try accept(answer, from: introspector.issuer, key: key, for: server, now: now))
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

    /// The introspection endpoint a token goes to, or nil when it is verified as a JWT. Only a
    /// server that accepts an issuer with `token_format` opaque or both introspects (at most one
    /// such issuer per server, checked when the policy loads). A token that parses as a JWS
    /// naming another issuer, or naming that issuer when it also signs JWTs (`both`), is a JWT;
    /// any other token goes to the endpoint, so no issuer ever sees another issuer's JWT.
    private func introspector(for token: String, server: ServerConfig, in snapshot: PolicySnapshot) throws(TokenFailure) -> Introspector? {
        guard let issuerID = server.issuers.first(where: { snapshot.issuers[$0.value].map { $0.tokenFormat != .jwt } ?? false })?.value,
            let issuer = snapshot.issuers[issuerID], let introspector = introspectors[issuerID]
        else { return nil }
        if let jws = try? CompactJWS.parse(token, limits: CompactJWS.Limits(maxTokenBytes: verifier.maxTokenBytes)),
            case let .string(iss)? = try? jws.claims()["iss"]
        {
            if iss != issuer.issuer.value || issuer.tokenFormat == .both { return nil }
        }
        guard token.utf8.count <= verifier.maxTokenBytes else {
            throw TokenFailure(.tokenTooLarge, "token is larger than \(verifier.maxTokenBytes) bytes", issuerID: issuerID)
        }
        return introspector
    }

    /// An introspection answer for a token, checked for the server and kept as verified.
    private func accept(
        _ answer: Introspector.Answer, from issuer: IssuerConfig, key: VerifiedTokenCache.Key, for server: ServerConfig, now: Double
    ) throws(TokenFailure) -> VerifiedToken {
        switch answer {
        case .inactive:
            throw TokenFailure(.tokenInactive, "the issuer's introspection endpoint says the token is not active", issuerID: issuer.id.value)
        case let .unavailable(why):
            throw TokenFailure(.introspectionUnavailable, why, issuerID: issuer.id.value)
        case let .active(claims, until):
            let verified = try verifier.verifyIntrospected(claims, issuer: issuer, for: server, trustedUntil: until, now: now)
            verifiedTokens.put(key, verified, now: now)
            return verified
        }
    }
}
