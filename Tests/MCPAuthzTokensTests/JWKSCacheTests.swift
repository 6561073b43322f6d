import AsyncHTTPClient
import Foundation
import Logging
import MCPAuthzPolicy
import MCPAuthzTestSupport
import MetricsTestKit
import Testing

@testable import MCPAuthzTokens

/// The JWKS cache against a real HTTP identity provider on 127.0.0.1 that each test controls.
@Suite struct JWKSCacheTests {
    /// A stub IdP, tokens minted for its issuer URL, and a policy naming it.
    struct World {
        let idp: StubIdentityProvider
        let minted: MintedTokenSet
        let snapshot: PolicySnapshot
        let server: ServerConfig
        let authenticator: TokenAuthenticator
        let metrics: TestMetrics
        let client: HTTPClient

        var cache: JWKSCache { authenticator.caches["idp"]! }

        static func start(
            jwksURI: Bool = true, settings: (inout JWKSCacheSettings) -> Void = { _ in }
        ) async throws -> World {
            let idp = try await StubIdentityProvider.start()
            let issuer = idp.baseURL + "/"
            let minted = try await MintedTokenSet.mint(issuer: issuer)
            let snapshot = try minted.snapshot(issuerExtra: jwksURI ? "\n    jwks_uri: \(idp.baseURL)/jwks" : "")
            var cacheSettings = JWKSCacheSettings()
            cacheSettings.fetchTimeout = .seconds(2)
            settings(&cacheSettings)
            let metrics = TestMetrics()
            let client = JWKSFetcher.makeHTTPClient()
            let authenticator = TokenAuthenticator(
                issuers: snapshot.policy.issuers, settings: cacheSettings, httpClient: client,
                verifiedTokens: VerifiedTokenCache(metrics: metrics),
                logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }), metrics: metrics
            )
            let server = try #require(snapshot.servers["srv"]).config
            return World(
                idp: idp, minted: minted, snapshot: snapshot, server: server, authenticator: authenticator, metrics: metrics, client: client
            )
        }

        func stop() async {
            try? await client.shutdown()
            await idp.stop()
        }

        func serve(_ jwks: Data, maxAge: Int? = nil, delay: Duration = .zero) {
            idp.set("/jwks", .json(String(decoding: jwks, as: UTF8.self), maxAge: maxAge, delay: delay))
        }

        /// The reason a minted token is refused, or "accepted".
        func outcome(_ token: String) async -> String {
            await authenticator.outcome(token, for: server, in: snapshot)
        }

        func outcome(named name: String) async throws -> String {
            await outcome(try minted.token(name))
        }
    }

    @Test func keysAreFoundThroughOIDCDiscovery() async throws {
        let world = try await World.start(jwksURI: false)
        defer { Task { await world.stop() } }
        world.idp.set("/.well-known/openid-configuration", .json(#"{"issuer":"\#(world.idp.baseURL)/","jwks_uri":"\#(world.idp.baseURL)/jwks"}"#))
        world.serve(world.minted.jwks)
        #expect(try await world.outcome(named: "valid_rs256") == "accepted")
        #expect(world.idp.requests("/jwks") == 1)
    }

    @Test func discoveryFallsBackToOAuthAuthorizationServerMetadata() async throws {
        let world = try await World.start(jwksURI: false)
        defer { Task { await world.stop() } }
        world.idp.set(
            "/.well-known/oauth-authorization-server", .json(#"{"issuer":"\#(world.idp.baseURL)/","jwks_uri":"\#(world.idp.baseURL)/jwks"}"#))
        world.serve(world.minted.jwks)
        #expect(try await world.outcome(named: "valid_es256") == "accepted")
        #expect(world.idp.requests("/.well-known/openid-configuration") == 1)
    }

    @Test func aFailedFetchFromADiscoveredURIDiscoversAgain() async throws {
        let world = try await World.start(jwksURI: false)
        defer { Task { await world.stop() } }
        let metadata = #"{"issuer":"\#(world.idp.baseURL)/","jwks_uri":"\#(world.idp.baseURL)/PATH"}"#
        world.idp.set("/.well-known/openid-configuration", .json(metadata.replacingOccurrences(of: "PATH", with: "old-jwks")))
        world.serve(world.minted.jwks)
        await world.cache.refresh(.scheduled)
        #expect(world.cache.currentKeys() == nil, "/old-jwks answers 404")
        world.idp.set("/.well-known/openid-configuration", .json(metadata.replacingOccurrences(of: "PATH", with: "jwks")))
        await world.cache.refresh(.scheduled)
        #expect(world.cache.currentKeys()?.kids == ["ec-1", "ed-1", "rsa-1"])
        #expect(world.idp.requests("/.well-known/openid-configuration") == 2)
    }

    @Test func discoveryNamingAnotherIssuerIsNotTrusted() async throws {
        let world = try await World.start(jwksURI: false)
        defer { Task { await world.stop() } }
        world.idp.set("/.well-known/openid-configuration", .json(#"{"issuer":"https://evil.example/","jwks_uri":"\#(world.idp.baseURL)/jwks"}"#))
        world.serve(world.minted.jwks)
        #expect(try await world.outcome(named: "valid_rs256") == "jwks_unavailable")
        #expect(world.idp.requests("/jwks") == 0)
    }

    @Test func aRotatedKeyIsPickedUpOnItsFirstUnknownKidAndTheOldKeyIsDropped() async throws {
        let world = try await World.start()
        defer { Task { await world.stop() } }
        world.serve(world.minted.jwks)
        await world.cache.refresh(.scheduled)
        #expect(world.cache.currentKeys()?.kids == ["ec-1", "ed-1", "rsa-1"])
        world.serve(world.minted.rotatedJWKS)
        #expect(try await world.outcome(named: "signed_by_next_key") == "accepted")
        #expect(world.cache.currentKeys()?.kids == ["rsa-next"])
        #expect(try await world.outcome(named: "valid_ps256") == "unknown_kid", "rsa-1 is gone and a refresh was just made")
        #expect(world.idp.requests("/jwks") == 2)
    }

    /// A token verified (and cached) under a key the issuer then drops is verified again, and
    /// refused; a refresh that brings the same keys keeps the cached verification.
    @Test func aCachedTokenIsRefusedOnceItsKeyIsRemoved() async throws {
        let world = try await World.start()
        defer { Task { await world.stop() } }
        world.serve(world.minted.jwks)
        #expect(try await world.outcome(named: "valid_ps256") == "accepted")
        #expect(world.authenticator.verifiedTokens.count == 1)
        let generation = try #require(world.cache.currentGeneration())
        await world.cache.refresh(.scheduled)
        #expect(world.cache.currentGeneration() == generation, "the same document is the same generation")
        #expect(try await world.outcome(named: "valid_ps256") == "accepted")
        world.serve(world.minted.rotatedJWKS)
        await world.cache.refresh(.scheduled)
        #expect(world.cache.currentGeneration() == generation + 1)
        #expect(try await world.outcome(named: "valid_ps256") == "unknown_kid", "cached, but rsa-1 is gone")
    }

    @Test func lastGoodKeysKeepServingWhenTheIdPIsDownOrAnswersGarbage() async throws {
        let world = try await World.start()
        defer { Task { await world.stop() } }
        world.serve(world.minted.jwks)
        await world.cache.refresh(.scheduled)
        for failure: StubIdentityProvider.Response in [
            .init(status: 503, body: "down"), .init(body: "<html>login</html>"), .json("{\"keys\": [tru"), .json(#"{"keys": []}"#),
        ] {
            world.idp.set("/jwks", failure)
            await world.cache.refresh(.scheduled)
            #expect(world.cache.currentKeys()?.kids == ["ec-1", "ed-1", "rsa-1"])
            #expect(try await world.outcome(named: "valid_eddsa") == "accepted")
        }
        await world.idp.stop()
        await world.cache.refresh(.scheduled)
        #expect(try await world.outcome(named: "valid_es256") == "accepted")
    }

    @Test func withoutEverHavingKeysTokensAreRefusedAsUnavailable() async throws {
        let world = try await World.start()
        defer { Task { await world.stop() } }
        world.idp.set("/jwks", .init(body: "<html>maintenance</html>"))
        #expect(try await world.outcome(named: "valid_rs256") == "jwks_unavailable")
    }

    @Test func staleKeysExpireAfterTheStaleLimit() async throws {
        let world = try await World.start { settings in
            settings.defaultRefreshInterval = .zero
            settings.maxStale = .milliseconds(200)
        }
        defer { Task { await world.stop() } }
        world.serve(world.minted.jwks)
        await world.cache.refresh(.scheduled)
        #expect(world.cache.currentKeys() != nil)
        try await Task.sleep(for: .milliseconds(400))
        #expect(world.cache.currentKeys() == nil)
    }

    @Test func aSlowIdPDoesNotHoldARequestPastTheFetchTimeout() async throws {
        let world = try await World.start { $0.fetchTimeout = .milliseconds(300) }
        defer { Task { await world.stop() } }
        // The IdP would answer after 60 s; the 300 ms deadline must end the wait long before.
        // The bound is loose on purpose: it tells the two apart, it does not time the code.
        world.idp.set("/jwks", .json(String(decoding: world.minted.jwks, as: UTF8.self), delay: .seconds(60)))
        let start = ContinuousClock.now
        #expect(try await world.outcome(named: "valid_rs256") == "jwks_unavailable")
        #expect(ContinuousClock.now - start < .seconds(30), "the fetch deadline, not the IdP, ends the wait")
    }

    @Test func anIdPSlowerThanUsualButWithinTheFetchTimeoutIsWaitedFor() async throws {
        let world = try await World.start { $0.fetchTimeout = .seconds(5) }
        defer { Task { await world.stop() } }
        world.serve(world.minted.jwks, delay: .milliseconds(200))
        #expect(try await world.outcome(named: "valid_rs256") == "accepted")
    }

    /// The first request with an unknown kid refreshes the keys and waits for them; the others,
    /// whose refresh the rate limit takes away, are refused at once rather than held behind the
    /// fetch in flight (a slow IdP must not pile up requests).
    @Test func aThousandConcurrentRequestsWithAnUnknownKidCauseExactlyOneFetch() async throws {
        let world = try await World.start()
        defer { Task { await world.stop() } }
        world.serve(world.minted.jwks)
        await world.cache.refresh(.scheduled)
        // A slow answer keeps the refresh in flight while every request arrives.
        world.serve(world.minted.rotatedJWKS, delay: .milliseconds(500))
        let token = try world.minted.token("signed_by_next_key")
        let outcomes = await withTaskGroup(of: String.self) { group in
            for _ in 0..<1_000 { group.addTask { await world.outcome(token) } }
            return await group.reduce(into: [String: Int]()) { $0[$1, default: 0] += 1 }
        }
        // The one that refreshed is accepted, and so is any that started after the new keys
        // arrived; none waited behind the fetch to be accepted, and none failed another way.
        #expect(Set(outcomes.keys).isSubset(of: ["accepted", "unknown_kid"]))
        #expect((outcomes["accepted"] ?? 0) >= 1)
        #expect((outcomes["unknown_kid"] ?? 0) >= 900, "\(outcomes)")
        #expect(world.idp.requests("/jwks") == 2, "one start-up fetch and one refresh")
        #expect(try await world.outcome(named: "signed_by_next_key") == "accepted", "the new key serves everyone after")
    }

    /// A scheduled refresh in flight holds a request with an unknown kid only while that
    /// request's own refresh is not rate limited.
    @Test func aRateLimitedUnknownKidIsNotHeldBehindAScheduledFetch() async throws {
        let world = try await World.start { $0.minRefreshInterval = .seconds(60) }
        defer { Task { await world.stop() } }
        world.serve(world.minted.jwks)
        await world.cache.refresh(.scheduled)
        #expect(try await world.outcome(named: "signed_by_next_key") == "unknown_kid", "the on-demand refresh is spent")
        world.serve(world.minted.jwks, delay: .seconds(3))
        let scheduled = Task { await world.cache.refresh(.scheduled) }
        try await Task.sleep(for: .milliseconds(200))
        let start = ContinuousClock.now
        #expect(try await world.outcome(named: "signed_by_next_key") == "unknown_kid")
        #expect(ContinuousClock.now - start < .seconds(2), "answered without waiting for the scheduled fetch")
        await scheduled.value
    }

    @Test func aFloodOfRandomKidsCausesAtMostOneFetchPerInterval() async throws {
        let world = try await World.start { $0.minRefreshInterval = .seconds(60) }
        defer { Task { await world.stop() } }
        world.serve(world.minted.jwks)
        await world.cache.refresh(.scheduled)
        let valid = try world.minted.token("valid_rs256").split(separator: ".")
        for n in 0..<300 {
            let header = Base64URL.encode(Array(#"{"alg":"RS256","kid":"random-\#(n)"}"#.utf8))
            #expect(await world.outcome("\(header).\(valid[1]).\(valid[2])") == "unknown_kid")
        }
        #expect(world.idp.requests("/jwks") == 2, "one start-up fetch and one on-demand refresh")
    }

    @Test func maxAgeIsHonouredWithinItsBounds() {
        var settings = JWKSCacheSettings()
        settings.minMaxAge = .seconds(60)
        settings.maxMaxAge = .seconds(3600)
        settings.defaultRefreshInterval = .seconds(300)
        #expect(JWKSCache.refreshInterval(maxAge: 0, settings) == .seconds(60))
        #expect(JWKSCache.refreshInterval(maxAge: 600, settings) == .seconds(600))
        #expect(JWKSCache.refreshInterval(maxAge: 1_000_000, settings) == .seconds(3600))
        #expect(JWKSCache.refreshInterval(maxAge: nil, settings) == .seconds(300))
    }

    @Test(.timeLimit(.minutes(1)))
    func theRefreshLoopFetchesAtOnceAndEndsWhenCancelled() async throws {
        let world = try await World.start()
        defer { Task { await world.stop() } }
        world.serve(world.minted.jwks)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await world.cache.run() }
            while world.cache.currentKeys() == nil { try? await Task.sleep(for: .milliseconds(20)) }
            group.cancelAll()
        }
        #expect(world.idp.requests("/jwks") == 1)
    }

    @Test func refreshesFailuresSkipsKeysAndCacheHitsAreCounted() async throws {
        let world = try await World.start()
        defer { Task { await world.stop() } }
        world.serve(world.minted.jwks)
        await world.cache.refresh(.scheduled)
        world.idp.set("/jwks", .init(status: 503, body: "down"))
        await world.cache.refresh(.scheduled)
        await world.cache.refresh(.onDemand)
        await world.cache.refresh(.onDemand)
        #expect(try await world.outcome(named: "valid_rs256") == "accepted")
        #expect(try await world.outcome(named: "valid_rs256") == "accepted")
        let issuer = ("issuer", "idp")
        let metrics = world.metrics
        #expect(metrics.counterTotal(label: "mcp_authz_jwks_refreshes_total", dimensions: [issuer, ("result", "success")]) == 1)
        #expect(metrics.counterTotal(label: "mcp_authz_jwks_refreshes_total", dimensions: [issuer, ("result", "failure")]) == 2)
        #expect(metrics.counterTotal(label: "mcp_authz_jwks_refreshes_skipped_total", dimensions: [issuer]) == 1)
        #expect(try metrics.expectGauge("mcp_authz_jwks_keys", [issuer]).lastValue == 3)
        #expect(metrics.counterTotal(label: "mcp_authz_token_cache_total", dimensions: [("result", "miss")]) == 1)
        #expect(metrics.counterTotal(label: "mcp_authz_token_cache_total", dimensions: [("result", "hit")]) == 1)
    }

    @Test func aRedirectFromTheJWKSURIIsNotFollowed() async throws {
        let world = try await World.start()
        defer { Task { await world.stop() } }
        world.idp.set("/jwks", .init(status: 302, body: "", headers: [("Location", "\(world.idp.baseURL)/elsewhere")]))
        world.idp.set("/elsewhere", .json(String(decoding: world.minted.jwks, as: UTF8.self)))
        #expect(try await world.outcome(named: "valid_rs256") == "jwks_unavailable")
        #expect(world.idp.requests("/elsewhere") == 0)
    }

    @Test func keyURLsAndKeysNamedByATokenAreNeverFetchedOrUsed() async throws {
        let world = try await World.start()
        defer { Task { await world.stop() } }
        world.serve(world.minted.jwks)
        world.idp.set("/attacker/jwks.json", .json(String(decoding: world.minted.rotatedJWKS, as: UTF8.self)))
        // kid rsa-9 is not in the issuer's JWKS; the token offers it through jku, x5u and jwk.
        #expect(try await world.outcome(named: "key_urls_on_issuer_host") == "unknown_kid")
        #expect(world.idp.requests("/attacker/jwks.json") == 0)
        #expect(world.idp.requests("/attacker/cert.pem") == 0)
        #expect(world.idp.requests("/jwks") == 1, "only the policy's jwks_uri")
    }

    @Test func maxAgeIsReadFromCacheControl() {
        #expect(JWKSFetcher.maxAge(["public, max-age=3600, must-revalidate"]) == 3600)
        #expect(JWKSFetcher.maxAge(["no-cache"]) == nil)
        #expect(JWKSFetcher.maxAge(["max-age=-5"]) == nil)
    }

    @Test func aLocalJWKSFileNeedsNoNetwork() async throws {
        let minted = try MintedTokenSet.load()
        let file = NSTemporaryDirectory() + "mcp-authz-jwks-" + UUID().uuidString + ".json"
        try minted.jwks.write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let snapshot = try minted.snapshot(issuerExtra: "\n    jwks_file: \(file)")
        let authenticator = TokenAuthenticator(
            issuers: snapshot.policy.issuers, httpClient: HTTPClient.shared, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        let server = try #require(snapshot.servers["srv"]).config
        let verified = try await authenticator.authenticate(try minted.token("valid_rs256"), for: server, in: snapshot, now: minted.now)
        #expect(verified.identity.subject == "user-1")
    }

    @Test func aRepeatedTokenIsServedFromTheVerifiedTokenCacheUntilItExpires() async throws {
        let minted = try MintedTokenSet.load()
        let snapshot = try minted.snapshot()
        let server = try #require(snapshot.servers["srv"]).config
        let cache = VerifiedTokenCache(capacity: 4)
        let keys = try await IssuerKeys.load(jwks: minted.jwks, algorithms: ["RS256"])
        let token = try minted.token("valid_rs256")
        let key = VerifiedTokenCache.key(token: token, serverID: "srv")
        let verified = try TokenVerifier().verify(token, for: server, in: snapshot, keys: { _ in keys }, now: minted.now)
        cache.put(key, verified, now: minted.now)
        #expect(cache.get(key, now: minted.now)?.identity.subject == "user-1")
        #expect(cache.get(VerifiedTokenCache.key(token: token, serverID: "other"), now: minted.now) == nil, "per server")
        #expect(cache.get(key, now: verified.expiresAt + 1) == nil, "gone once expired")
        for n in 0..<10 { cache.put(VerifiedTokenCache.key(token: "t\(n)", serverID: "srv"), verified, now: minted.now) }
        #expect(cache.count <= 4)
    }
}
