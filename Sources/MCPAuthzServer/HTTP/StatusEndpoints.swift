import HTTPTypes
import Hummingbird
import MCPAuthzTokens
import NIOCore

/// What the sidecar says about itself and the servers it guards: RFC 9728 protected-resource
/// metadata, `/healthz`, `/readyz` and `/metrics`.
struct StatusEndpoints: Sendable {
    let authorizer: Authorizer
    let metrics: SidecarMetrics

    /// RFC 9728 metadata for the server whose `resource` has the request's host and the path
    /// after the well-known prefix.
    func protectedResourceMetadata(_ request: Request, suffix: Substring) -> Response {
        guard request.method == .get || request.method == .head else { return Response.problem(.methodNotAllowed, "use GET") }
        let forwardedHost = request.headers[values: .forwardedHost]
        guard forwardedHost.count <= 1, let host = forwardedHost.first ?? request.head.authority else {
            return Response.problem(.badRequest, "one Host or X-Forwarded-Host is required")
        }
        guard let document = authorizer.store.runtime.metadata.document(host: host, suffix: suffix) else {
            return Response.problem(.notFound, "no protected resource at this host and path")
        }
        var headers = HTTPFields()
        headers[.cacheControl] = "public, max-age=300"
        return Response.json(.ok, headers: headers, document)
    }

    /// 200 when every issuer's keys were tried and the audit log writes; 503 otherwise.
    func readiness() -> Response {
        let runtime = authorizer.store.runtime
        var json = JSONWriter()
        let caches = runtime.authenticator.caches.sorted { $0.key < $1.key }
        let auditHealthy = authorizer.audit?.isHealthy ?? true
        let ready = caches.allSatisfy { $0.value.availability != .pending } && auditHealthy
        json.field("ready", ready)
        json.field("policy_revision", runtime.revision)
        json.field("audit", authorizer.audit == nil ? "off" : auditHealthy ? "writing" : "failing")
        json.object("issuers") { issuers in
            for (id, cache) in caches { issuers.field(id, cache.availability.rawValue) }
        }
        return Response.json(ready ? .ok : .serviceUnavailable, json.finish())
    }

    func health() -> Response {
        Response.text(.ok, "ok\n")
    }

    func prometheus() -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: metrics.exposition())))
    }
}

extension HTTPField.Name {
    static let forwardedHost = Self("X-Forwarded-Host")!
}

extension Response {
    static func json(_ status: HTTPResponse.Status, headers: HTTPFields = [:], _ body: [UInt8]) -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    static func text(_ status: HTTPResponse.Status, _ text: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// An error for API callers: `{"error": "..."}`.
    static func problem(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) -> Response {
        var json = JSONWriter()
        json.field("error", message)
        return Response.json(status, headers: headers, json.finish())
    }
}
