import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import MCPAuthzPolicy
import MCPAuthzTokens
import NIOCore
import NIOHTTP1
import Synchronization

/// The running sidecar's parts: the HTTP application and the services beside it (JWKS
/// refresh, policy reload), around one policy store.
///
/// `build` is what `serve`, `demo` and the tests all call, so tests exercise the same wiring
/// users run.
package struct Sidecar: Sendable {
    package let application: Application<SidecarResponder>
    package let store: PolicyStore
    package let reloader: PolicyReloader
    package let metrics: SidecarMetrics
    package let audit: AuditLog?
    /// The client that fetches keys; shut it down after the application has stopped.
    package let httpClient: HTTPClient
    /// Where it listens, for a start-up failure's message.
    let listen: ListenAddress
    /// Set once the listening socket is bound: an error before it is a failure to listen.
    let listening: ListeningFlag

    /// Whether the server has bound its socket.
    package var isListening: Bool { listening.isSet }

    /// Loads the policy (refusing to start on an invalid one) and assembles the sidecar.
    /// - Parameters:
    ///   - trapsSIGHUP: reload on SIGHUP; only one sidecar per process may.
    ///   - extra: endpoints served before the sidecar's own (the demo's issuer).
    ///   - onServerRunning: called with the listening channel once it is bound.
    package static func build(
        settings: SidecarSettings, logger: Logger, trapsSIGHUP: Bool = true, metrics: SidecarMetrics = SidecarMetrics(),
        extra: (@Sendable (Request) -> Response?)? = nil, onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) throws(SidecarStartError) -> Sidecar {
        let audit: AuditLog?
        do throws(AuditSinkError) {
            audit = settings.audit.destinations.isEmpty ? nil : try AuditLog(settings: settings.audit, logger: logger, metrics: metrics.factory)
        } catch {
            throw .audit(error)
        }
        let httpClient = JWKSFetcher.makeHTTPClient(connectTimeout: settings.jwks.fetchTimeout)
        let builder = RuntimeBuilder(settings: settings, httpClient: httpClient, logger: logger, metrics: metrics.factory, audit: audit)
        let initial: PolicyRuntime
        do throws(PolicyLoadError) {
            initial = try builder.build(previous: nil)
        } catch {
            try? httpClient.syncShutdown()
            throw .policy(error)
        }
        let shadow: ShadowPolicy?
        do throws(PolicyLoadError) {
            shadow = try settings.shadowPolicyPath.map { path throws(PolicyLoadError) in try ShadowPolicy(path: path, limits: settings.policyLimits) }
        } catch {
            try? httpClient.syncShutdown()
            throw .shadowPolicy(error)
        }
        metrics.recordReload(success: true, at: Date().timeIntervalSince1970)
        audit?.event(.policyLoad(.success(cause: "start", path: settings.policyPath, runtime: initial, previous: nil)))
        if let shadow {
            audit?.event(.policyLoad(.shadow(cause: "start", path: shadow.path, revision: shadow.loaded.revision)))
            logger.info("shadow policy loaded", metadata: ["policy.path": "\(shadow.path)", "policy.revision": "\(shadow.loaded.revision)"])
        }
        for warning in initial.warnings {
            logger.warning("policy warning", metadata: ["policy.warning": "\(warning.description)"])
        }
        logger.info(
            "policy loaded",
            metadata: [
                "policy.path": "\(settings.policyPath)", "policy.revision": "\(initial.revision)",
                "policy.servers": "\(initial.snapshot.servers.count)", "policy.issuers": "\(initial.snapshot.issuers.count)",
            ]
        )
        let store = PolicyStore(initial)
        let reloader = PolicyReloader(
            store: store, builder: builder, watchInterval: settings.watchInterval, trapsSIGHUP: trapsSIGHUP, logger: logger, metrics: metrics,
            audit: audit, shadow: shadow
        )
        let limiter = RateLimiter(maxKeys: settings.maxLimitKeys, dropped: metrics.limitKeysDropped)
        let responder = SidecarResponder(
            authorizer: Authorizer(
                store: store, metrics: metrics, audit: audit, shadow: shadow, limiter: limiter, dpop: DPoPVerifier(settings: settings.dpop)
            ), settings: settings,
            metrics: metrics, logger: logger, extra: extra
        )
        let address: BindAddress
        switch settings.listen {
        case let .tcp(host, port): address = .hostname(host, port: port)
        case let .unix(path): address = .unixDomainSocket(path: path)
        }
        let (idleSeconds, _) = settings.idleTimeout.components
        var decoderLimits = NIOHTTPDecoderLimitConfiguration()
        decoderLimits.maxHeaderFieldSize = settings.maxHeaderBytes
        decoderLimits.maxHeaderListSize = settings.maxHeaderBytes
        decoderLimits.maxHeaderFieldCount = 200
        let server = HTTPServerBuilder { [responder, decoderLimits] respond in
            SidecarHTTPChannel(
                responder: respond, forwardAuth: responder.forwardAuth, idleTimeout: .seconds(idleSeconds),
                maxPipelined: settings.maxPipelined, decoderLimits: decoderLimits,
                additionalHandlers: {
                    [
                        HeaderOverflowHandler { [audit, metrics] in
                            metrics.recordDecision(server: nil, allowed: false, reason: HeaderOverflowHandler.reason, duration: .zero)
                            audit?.event(.requestRefused(reason: HeaderOverflowHandler.reason, status: 431))
                        }
                    ]
                }
            )
        }
        let listening = ListeningFlag()
        let (bound, boundContinuation) = AsyncStream.makeStream(of: Void.self)
        let application = Application(
            responder: responder, server: server,
            configuration: ApplicationConfiguration(address: address, serverName: nil),
            // Stopped in reverse order after the HTTP server: the audit log last, so it records
            // every request the server finished.
            services: (audit.map { [$0] } ?? []) + [JWKSRefresher(store: store, listening: bound), reloader],
            onServerRunning: { channel in
                listening.set()
                boundContinuation.yield()
                boundContinuation.finish()
                try? await channel.eventLoop.submit {
                    try channel.pipeline.syncOperations.addHandler(
                        AcceptFailureHandler(logger: logger, failures: metrics.acceptFailures), position: .first
                    )
                }.get()
                await onServerRunning(channel)
            },
            logger: logger
        )
        return Sidecar(
            application: application, store: store, reloader: reloader, metrics: metrics, audit: audit, httpClient: httpClient,
            listen: settings.listen, listening: listening
        )
    }

    /// Runs until SIGTERM or SIGINT, then drains and stops everything. A socket that cannot be
    /// bound ends it at once with `SidecarListenError` (the other services stop with it).
    package func run() async throws {
        do {
            try await application.runService()
        } catch {
            try? await httpClient.shutdown()
            guard listening.isSet else { throw SidecarListenError(address: listen, cause: error) }
            throw error
        }
        try await httpClient.shutdown()
    }
}

/// Whether the listening socket was bound.
final class ListeningFlag: Sendable {
    private let value = Atomic(false)
    func set() { value.store(true, ordering: .relaxed) }
    var isSet: Bool { value.load(ordering: .relaxed) }
}

/// The sidecar could not listen where it was told to (the port is taken, the address is not
/// this machine's, the socket's folder cannot be written).
package struct SidecarListenError: Error, Sendable {
    package let address: ListenAddress
    /// What the system said.
    package let cause: any Error

    /// `cannot listen on 127.0.0.1:9090: address already in use`.
    package var message: String {
        "cannot listen on \(address): \(Self.reason(cause))"
    }

    static func reason(_ error: any Error) -> String {
        SocketErrorText.reason(error) ?? "\(error)"
    }
}

/// Why the sidecar did not start.
package enum SidecarStartError: Error, Sendable {
    /// The policy is invalid: every problem, with its location.
    case policy(PolicyLoadError)
    /// An audit destination cannot be opened.
    case audit(AuditSinkError)
    /// The shadow policy set (`--shadow-policies`) is invalid.
    case shadowPolicy(PolicyLoadError)
}
