import HTTPTypes
import Hummingbird
import Logging

/// Routes every HTTP request of the sidecar to its endpoint.
///
/// A switch on the path rather than a router: the table is fixed and small, and the forward-auth
/// path is the hot one.
package struct SidecarResponder: HTTPResponder {
    package typealias Context = BasicRequestContext

    let forwardAuth: ForwardAuthEndpoint
    let decisionAPI: DecisionAPIEndpoint
    let authzen: AuthZENEndpoint
    let status: StatusEndpoints
    /// Extra endpoints served before the sidecar's own (the demo's issuer).
    let extra: (@Sendable (Request) -> Response?)?

    package init(
        authorizer: Authorizer, settings: SidecarSettings, metrics: SidecarMetrics, logger: Logger,
        extra: (@Sendable (Request) -> Response?)? = nil
    ) {
        forwardAuth = ForwardAuthEndpoint(authorizer: authorizer, settings: settings, logger: logger)
        decisionAPI = DecisionAPIEndpoint(authorizer: authorizer, settings: settings, logger: logger)
        authzen = AuthZENEndpoint(authorizer: authorizer, settings: settings, logger: logger)
        status = StatusEndpoints(authorizer: authorizer, metrics: metrics)
        self.extra = extra
    }

    package func respond(to request: Request, context: Context) async throws -> Response {
        let path = request.uri.path
        if path == "/auth" || path.hasPrefix("/auth/") {
            let envoyPath = path == "/auth" ? nil : String(path.dropFirst(5)) + (request.uri.query.map { "?" + $0 } ?? "")
            return await forwardAuth.respond(to: request, envoyPath: envoyPath)
        }
        if path.hasPrefix(ProtectedResourceMetadata.wellKnownPath) {
            return status.protectedResourceMetadata(request, suffix: path.dropFirst(ProtectedResourceMetadata.wellKnownPath.utf8.count))
        }
        if let extra, let response = extra(request) { return response }
        if AuthZENEndpoint.paths.contains(path) { return await authzen.respond(to: request, path: path) }
        switch path {
        case "/v1/decide": return await decisionAPI.respond(to: request, filter: false)
        case "/v1/filter": return await decisionAPI.respond(to: request, filter: true)
        case "/healthz": return status.health()
        case "/readyz": return status.readiness()
        case "/metrics": return status.prometheus()
        default: return Response.text(.notFound, "not found\n")
        }
    }
}
