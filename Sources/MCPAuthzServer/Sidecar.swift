import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import MCPAuthzPolicy
import MCPAuthzTokens
import NIOCore
import NIOHTTP1

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
        metrics.recordReload(success: true, at: Date().timeIntervalSince1970)
        audit?.event(PolicyLoadEvent.success(cause: "start", path: settings.policyPath, runtime: initial, previous: nil))
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
            audit: audit
        )
        let responder = SidecarResponder(
            authorizer: Authorizer(store: store, metrics: metrics, audit: audit), settings: settings, metrics: metrics, logger: logger, extra: extra
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
                responder: respond, forwardAuth: responder, idleTimeout: .seconds(idleSeconds), decoderLimits: decoderLimits,
                additionalHandlers: {
                    [
                        HeaderOverflowHandler { [audit, metrics] in
                            metrics.recordDecision(server: nil, allowed: false, reason: HeaderOverflowHandler.reason, duration: .zero)
                            audit?.event(
                                EventRecord("request_refused", [("reason", .string(HeaderOverflowHandler.reason)), ("status", .int(431))])
                            )
                        }
                    ]
                }
            )
        }
        let application = Application(
            responder: responder, server: server,
            configuration: ApplicationConfiguration(address: address, serverName: nil),
            // Stopped in reverse order after the HTTP server: the audit log last, so it records
            // every request the server finished.
            services: (audit.map { [$0] } ?? []) + [JWKSRefresher(store: store), reloader], onServerRunning: onServerRunning,
            logger: logger
        )
        return Sidecar(application: application, store: store, reloader: reloader, metrics: metrics, audit: audit, httpClient: httpClient)
    }

    /// Runs until SIGTERM or SIGINT, then drains and stops everything.
    package func run() async throws {
        do {
            try await application.runService()
        } catch {
            try? await httpClient.shutdown()
            throw error
        }
        try await httpClient.shutdown()
    }
}

/// Why the sidecar did not start.
package enum SidecarStartError: Error, Sendable {
    /// The policy is invalid: every problem, with its location.
    case policy(PolicyLoadError)
    /// An audit destination cannot be opened.
    case audit(AuditSinkError)
}
