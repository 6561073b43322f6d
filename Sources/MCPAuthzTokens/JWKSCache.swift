import Crypto
import Foundation
import Logging
import MCPAuthzPolicy
import Metrics
import NIOPosix
import Synchronization

/// One issuer's signing keys, kept fresh.
///
/// Requests read the current keys without waiting (`currentKeys()`); refreshes run in the
/// actor. Keys are fetched from a local `jwks_file`, an explicit `jwks_uri`, or the URI found by
/// discovery. A scheduled refresh honours `Cache-Control: max-age` within bounds; an unknown
/// `kid` triggers at most one refresh per `minRefreshInterval`, and concurrent callers wait on
/// the one fetch in flight. A failed refresh keeps the last good keys for up to `maxStale`.
/// URLs named by tokens (`jku`, `x5u`) are never fetched: only the policy's URLs are.
package actor JWKSCache {
    package enum RefreshCause: Sendable {
        /// The schedule or start-up: always fetches (unless one is in flight).
        case scheduled
        /// A request met an unknown kid or no keys: rate limited per issuer.
        case onDemand
    }

    private struct Loaded: Sendable {
        var keys: IssuerKeys
        var refreshDue: ContinuousClock.Instant
        /// Counts the distinct key documents (or secrets) loaded: a token verified under one
        /// generation is verified again under the next, so a key removed or a secret rotated
        /// stops tokens it verified before their `exp`.
        var generation: Int
        var fingerprint: SHA256Digest
    }

    package nonisolated let issuerID: String
    private let issuer: IssuerConfig
    private let settings: JWKSCacheSettings
    private let fetcher: JWKSFetcher?
    private let logger: Logger
    private let clock = ContinuousClock()
    private nonisolated let loaded = Mutex<Loaded?>(nil)
    private nonisolated let attempted = Mutex(false)
    private nonisolated let staleLimit: Duration

    private var discoveredJWKSURI: String?
    private var lastOnDemand: ContinuousClock.Instant?
    private var lastAttemptFailed = false
    private var inFlight = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    private let onRefresh: (@Sendable (RefreshOutcome) -> Void)?
    private let refreshSuccesses: Counter
    private let refreshFailures: Counter
    private let refreshesSkipped: Counter
    private let keyCount: Gauge

    /// What one refresh did, for the audit log.
    package struct RefreshOutcome: Sendable {
        package var issuerID: String
        package var keys: Int
        /// Why it failed; nil when it succeeded.
        package var error: String?
        package var servingLastGood: Bool
    }

    /// `fetcher` may be nil only for an issuer with a `jwks_file`. Metrics go to
    /// `metrics`, the bootstrapped system by default; `onRefresh` hears every refresh's outcome.
    package init(
        issuer: IssuerConfig, settings: JWKSCacheSettings, fetcher: JWKSFetcher?, logger: Logger,
        metrics: any MetricsFactory = MetricsSystem.factory, onRefresh: (@Sendable (RefreshOutcome) -> Void)? = nil
    ) {
        self.onRefresh = onRefresh
        issuerID = issuer.id.value
        self.issuer = issuer
        self.settings = settings
        self.fetcher = fetcher
        self.logger = logger
        staleLimit = settings.maxStale
        let dimensions = [("issuer", issuer.id.value)]
        refreshSuccesses = Counter(
            label: "mcp_authz_jwks_refreshes_total", dimensions: dimensions + [("result", "success")], factory: metrics
        )
        refreshFailures = Counter(
            label: "mcp_authz_jwks_refreshes_total", dimensions: dimensions + [("result", "failure")], factory: metrics
        )
        refreshesSkipped = Counter(label: "mcp_authz_jwks_refreshes_skipped_total", dimensions: dimensions, factory: metrics)
        keyCount = Gauge(label: "mcp_authz_jwks_keys", dimensions: dimensions, factory: metrics)
    }

    /// The keys to verify with now, or nil when none were ever loaded or the last good ones are
    /// older than the stale limit allows.
    package nonisolated func currentKeys() -> IssuerKeys? {
        current()?.keys
    }

    /// The keys to verify with now and their generation (see `Loaded.generation`).
    package nonisolated func current() -> (keys: IssuerKeys, generation: Int)? {
        let now = ContinuousClock.now
        return loaded.withLock { loaded in
            guard let loaded, now <= loaded.refreshDue.advanced(by: staleLimit) else { return nil }
            return (loaded.keys, loaded.generation)
        }
    }

    /// The generation of the keys served now; nil when none are.
    package nonisolated func currentGeneration() -> Int? {
        let now = ContinuousClock.now
        return loaded.withLock { loaded in
            guard let loaded, now <= loaded.refreshDue.advanced(by: staleLimit) else { return nil }
            return loaded.generation
        }
    }

    /// Whether requests can be verified: keys are served, or not yet tried, or tried and absent.
    package enum Availability: String, Sendable {
        case pending
        case ready
        case unavailable
    }

    package nonisolated var availability: Availability {
        if currentKeys() != nil { return .ready }
        return attempted.withLock { $0 } ? .unavailable : .pending
    }

    /// Refreshes the keys, or waits for the refresh in flight. An on-demand refresh is skipped
    /// at once, without waiting for a fetch in flight, when the previous on-demand one was less
    /// than `minRefreshInterval` ago: a token with an unknown `kid` is then refused straight
    /// away rather than held for a fetch it may not have. Scheduled refreshes do not count, so
    /// a rotation right after a scheduled refresh is still picked up.
    package func refresh(_ cause: RefreshCause) async {
        if cause == .onDemand, let last = lastOnDemand, clock.now < last.advanced(by: settings.minRefreshInterval) {
            refreshesSkipped.increment()
            return
        }
        if inFlight {
            await withCheckedContinuation { waiters.append($0) }
            return
        }
        if cause == .onDemand { lastOnDemand = clock.now }
        inFlight = true
        await fetchAndStore()
        inFlight = false
        let resumed = waiters
        waiters = []
        for waiter in resumed { waiter.resume() }
    }

    /// Scheduled refreshes until the surrounding task is cancelled.
    package func run() async {
        while !Task.isCancelled {
            await refresh(.scheduled)
            let wait: Duration
            if lastAttemptFailed {
                wait = settings.retryInterval
            } else {
                let due = loaded.withLock { $0?.refreshDue } ?? clock.now.advanced(by: settings.retryInterval)
                // The floor only guards against a hot loop; intervals come from the settings.
                wait = max(clock.now.duration(to: due), .milliseconds(100))
            }
            do { try await Task.sleep(for: wait) } catch { return }
        }
    }

    private func fetchAndStore() async {
        defer { attempted.withLock { $0 = true } }
        do throws(JWKSFetchError) {
            let (data, maxAge) = try await document()
            let keys: IssuerKeys
            if issuer.usesSharedSecret {
                // The secret itself: never logged; a secret too short for an algorithm drops it.
                keys = IssuerKeys.sharedSecret(PolicyLoader.secret(in: Array(data)), algorithms: issuer.algorithms.map(\.value))
            } else {
                do {
                    keys = try await IssuerKeys.load(jwks: data, algorithms: issuer.algorithms.map(\.value), maxKeys: settings.maxKeys)
                } catch {
                    throw JWKSFetchError("JWKS rejected: \(error.message)")
                }
            }
            for note in keys.skipped {
                logger.warning("JWKS key skipped", metadata: ["jwks.issuer": "\(issuerID)", "jwks.note": "\(note)"])
            }
            guard !keys.isEmpty else { throw JWKSFetchError("JWKS has no usable signing key") }
            let due = clock.now.advanced(by: Self.refreshInterval(maxAge: maxAge, settings))
            let fingerprint = SHA256.hash(data: data)
            loaded.withLock { loaded in
                let generation = loaded.map { $0.fingerprint == fingerprint ? $0.generation : $0.generation + 1 } ?? 1
                loaded = Loaded(keys: keys, refreshDue: due, generation: generation, fingerprint: fingerprint)
            }
            lastAttemptFailed = false
            refreshSuccesses.increment()
            keyCount.record(keys.kids.count)
            logger.info("JWKS refreshed", metadata: ["jwks.issuer": "\(issuerID)", "jwks.keys": "\(keys.kids.count)"])
            onRefresh?(RefreshOutcome(issuerID: issuerID, keys: keys.kids.count, error: nil, servingLastGood: false))
        } catch {
            lastAttemptFailed = true
            // The provider may have moved its keys: discover again on the next attempt.
            discoveredJWKSURI = nil
            refreshFailures.increment()
            let serving = currentKeys() != nil
            onRefresh?(RefreshOutcome(issuerID: issuerID, keys: 0, error: error.message, servingLastGood: serving))
            logger.error(
                "JWKS refresh failed",
                metadata: ["jwks.issuer": "\(issuerID)", "jwks.error": "\(error.message)", "jwks.serving_last_good": "\(serving)"]
            )
        }
    }

    /// The JWKS bytes and their max-age, from the file, the configured URI or discovery.
    private func document() async throws(JWKSFetchError) -> (Data, Int?) {
        if let file = issuer.secretFile?.value ?? issuer.jwksFile?.value {
            let maxBytes = issuer.usesSharedSecret ? IssuerConfig.maxSecretBytes : settings.maxDocumentBytes
            do {
                // A file read can block: off the event loops.
                return (try await NIOThreadPool.singleton.runIfActive { try BoundedFile.read(file, maxBytes: maxBytes) }, nil)
            } catch {
                throw JWKSFetchError("\(file): \(error)", cause: error)
            }
        }
        guard let fetcher else { throw JWKSFetchError("no HTTP client for issuer \(issuerID)") }
        let uri: String
        if let configured = issuer.jwksURI?.value {
            uri = configured
        } else if let discovered = discoveredJWKSURI {
            uri = discovered
        } else {
            uri = try await fetcher.discoverJWKSURI(issuer: issuer.issuer.value)
            discoveredJWKSURI = uri
        }
        let document = try await fetcher.get(uri)
        return (document.body, document.maxAge)
    }

    /// When to refresh after a successful fetch: the response's max-age within the configured
    /// bounds, or the default interval when it gave none.
    static func refreshInterval(maxAge: Int?, _ settings: JWKSCacheSettings) -> Duration {
        guard let maxAge else { return settings.defaultRefreshInterval }
        return min(max(.seconds(maxAge), settings.minMaxAge), settings.maxMaxAge)
    }
}
