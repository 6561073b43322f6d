import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import MCPAuthzPolicy
import Metrics
import NIOCore
import NIOHTTP1
import Synchronization

/// Bounds and lifetimes of token introspection.
package struct IntrospectionSettings: Sendable {
    /// The longest a positive answer is trusted: until the token's `exp`, but never longer than
    /// this (and exactly this for an answer without `exp`). A token revoked at the issuer stops
    /// working within this time.
    package var cacheTTL: Duration = .seconds(60)
    /// How long an `active: false` answer is kept.
    package var negativeTTL: Duration = .seconds(5)
    /// The whole call to the endpoint, connection included.
    package var timeout: Duration = .seconds(5)
    package var maxResponseBytes = 64 * 1024
    /// Calls to one endpoint at once; a token beyond them is refused, not queued.
    package var maxInFlight = 256
    /// Answers kept per issuer.
    package var cacheCapacity = 10_000

    package init() {}
}

/// Asks one issuer's RFC 7662 endpoint whether a token is active, with a cache of answers and
/// at most one call in flight per token.
///
/// Fails closed: a timeout, a connection refused, a status other than 200, a body that is not a
/// JSON object or whose `active` is not a JSON boolean are all `unavailable`, never cached and
/// never answered from an older answer. The token is sent only to the configured URL (the HTTP
/// client follows no redirect), and is kept nowhere: the cache is keyed by its SHA-256.
package final class Introspector: Sendable {
    /// What the endpoint said of a token.
    package enum Answer: Sendable {
        /// Active, with the answer's members as claims; trusted until `until` (seconds since 1970).
        case active([String: ClaimValue], until: Double)
        case inactive
        /// No usable answer, and why (for the log; never the token).
        case unavailable(String)
    }

    package let issuer: IssuerConfig
    let config: IntrospectionConfig
    let client: HTTPClient
    let settings: IntrospectionSettings
    let logger: Logger
    private let cache = Mutex<[SHA256Digest: (answer: Answer, until: Double)]>([:])
    private let inFlight = Mutex<[SHA256Digest: Task<Answer, Never>]>([:])
    private let calls: (active: Counter, inactive: Counter, failed: Counter)

    package init(
        issuer: IssuerConfig, config: IntrospectionConfig, client: HTTPClient, settings: IntrospectionSettings, logger: Logger,
        metrics: any MetricsFactory = MetricsSystem.factory
    ) {
        self.issuer = issuer
        self.config = config
        self.client = client
        self.settings = settings
        self.logger = logger
        func counter(_ result: String) -> Counter {
            Counter(label: "mcp_authz_introspection_total", dimensions: [("issuer", issuer.id.value), ("result", result)], factory: metrics)
        }
        calls = (counter("active"), counter("inactive"), counter("error"))
    }

    /// The kept answer for a token, if it is still good at `now`.
    package func cached(_ digest: SHA256Digest, now: Double) -> Answer? {
        cache.withLock { entries in
            guard let entry = entries[digest] else { return nil }
            guard now < entry.until else {
                entries[digest] = nil
                return nil
            }
            return entry.answer
        }
    }

    /// The endpoint's answer for a token: kept, or asked once however many requests carry the
    /// token at the same time.
    package func introspect(_ token: String, digest: SHA256Digest) async -> Answer {
        if let answer = cached(digest, now: Date().timeIntervalSince1970) { return answer }
        let task = inFlight.withLock { tasks -> Task<Answer, Never>? in
            if let running = tasks[digest] { return running }
            guard tasks.count < settings.maxInFlight else { return nil }
            let task = Task {
                let answer = await self.ask(token)
                self.keep(answer, for: digest, now: Date().timeIntervalSince1970)
                _ = self.inFlight.withLock { $0.removeValue(forKey: digest) }
                return answer
            }
            tasks[digest] = task
            return task
        }
        guard let task else {
            calls.failed.increment()
            return .unavailable("\(settings.maxInFlight) introspection calls to issuer '\(issuer.id.value)' are already in flight")
        }
        return await task.value
    }

    private func keep(_ answer: Answer, for digest: SHA256Digest, now: Double) {
        let until: Double
        switch answer {
        case let .active(_, activeUntil): until = activeUntil
        case .inactive: until = now + settings.negativeTTL.inSeconds
        case .unavailable: return
        }
        guard until > now else { return }
        cache.withLock { entries in
            entries.makeRoom(capacity: settings.cacheCapacity) { $0.until > now }
            entries[digest] = (answer, until)
        }
    }

    /// One call to the endpoint.
    private func ask(_ token: String) async -> Answer {
        let answer = await call(token)
        switch answer {
        case .active: calls.active.increment()
        case .inactive: calls.inactive.increment()
        case let .unavailable(why):
            calls.failed.increment()
            logger.warning(
                "token introspection failed; the request is refused",
                metadata: ["authz.issuer": "\(issuer.id.value)", "authz.detail": "\(why)"]
            )
        }
        return answer
    }

    private func call(_ token: String) async -> Answer {
        let secret: [UInt8]
        do throws(BoundedFile.Failure) {
            secret = PolicyLoader.secret(in: Array(try BoundedFile.read(config.clientSecretFile.value, maxBytes: IssuerConfig.maxSecretBytes)))
        } catch {
            return .unavailable("client_secret_file \(config.clientSecretFile.value): \(error.description)")
        }
        var request = HTTPClientRequest(url: config.url.value)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Accept", value: "application/json")
        var form = "token=" + Self.formEncoded(Array(token.utf8)) + "&token_type_hint=access_token"
        switch config.auth {
        case .basic:
            let credentials = Self.formEncoded(Array(config.clientID.utf8)) + ":" + Self.formEncoded(secret)
            request.headers.add(name: "Authorization", value: "Basic " + Data(credentials.utf8).base64EncodedString())
        case .post:
            form += "&client_id=" + Self.formEncoded(Array(config.clientID.utf8)) + "&client_secret=" + Self.formEncoded(secret)
        }
        request.body = .bytes(ByteBuffer(string: form))
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: TimeAmount(settings.timeout))
        } catch {
            return .unavailable("POST \(config.url.value) failed: \(JWKSFetcher.reason(error))")
        }
        guard response.status == .ok else {
            return .unavailable("POST \(config.url.value) answered \(response.status.code)")
        }
        let body: ByteBuffer
        do {
            body = try await response.body.collect(upTo: settings.maxResponseBytes)
        } catch {
            return .unavailable("POST \(config.url.value): answer larger than \(settings.maxResponseBytes) bytes or cut short")
        }
        return Self.answer(Array(body.readableBytesView), ttl: settings.cacheTTL.inSeconds, now: Date().timeIntervalSince1970)
    }

    /// Reads an endpoint's answer (RFC 7662 §2.2): a JSON object whose `active` is the JSON
    /// boolean `true` or `false`. Anything else is no answer. An active answer is trusted until
    /// its `exp`, if it has one, and never longer than `ttl`.
    package static func answer(_ body: [UInt8], ttl: Double, now: Double) -> Answer {
        guard case let .object(members)? = try? ClaimValue.parseJSON(body, maxDepth: 16) else {
            return .unavailable("the introspection answer is not a JSON object")
        }
        switch members["active"] {
        case .bool(true)?:
            var until = now + ttl
            if let exp = members["exp"].flatMap(TokenVerifier.seconds) { until = min(until, exp) }
            return .active(members, until: until)
        case .bool(false)?:
            return .inactive
        default:
            return .unavailable("the introspection answer's active member is not a JSON boolean")
        }
    }

    /// `application/x-www-form-urlencoded` for any bytes: unreserved characters as they are,
    /// every other byte as `%XX`.
    static func formEncoded(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(byte)
            default:
                out += [UInt8(ascii: "%"), digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
