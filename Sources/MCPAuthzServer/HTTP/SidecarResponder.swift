import Foundation
import HTTPTypes
import Hummingbird
import Logging
import MCPAuthzPolicy
import MCPAuthzTokens
import NIOCore
import NIOHTTP1

/// Every HTTP endpoint of the sidecar.
///
/// A switch on the path rather than a router: the table is fixed and small, and the forward-auth
/// path is the hot one.
package struct SidecarResponder: HTTPResponder {
    package typealias Context = BasicRequestContext

    let authorizer: Authorizer
    let settings: SidecarSettings
    let metrics: SidecarMetrics
    let logger: Logger
    /// Extra endpoints served before the sidecar's own (the demo's issuer).
    let extra: (@Sendable (Request) -> Response?)?

    package init(
        authorizer: Authorizer, settings: SidecarSettings, metrics: SidecarMetrics, logger: Logger,
        extra: (@Sendable (Request) -> Response?)? = nil
    ) {
        self.authorizer = authorizer
        self.settings = settings
        self.metrics = metrics
        self.logger = logger
        self.extra = extra
    }

    package func respond(to request: Request, context: Context) async throws -> Response {
        let path = request.uri.path
        if path == "/auth" || path.hasPrefix("/auth/") {
            let envoyPath = path == "/auth" ? nil : String(path.dropFirst(5)) + (request.uri.query.map { "?" + $0 } ?? "")
            return await forwardAuth(request, envoyPath: envoyPath)
        }
        if path.hasPrefix(ProtectedResourceMetadata.wellKnownPath) {
            return protectedResourceMetadata(request, suffix: path.dropFirst(ProtectedResourceMetadata.wellKnownPath.utf8.count))
        }
        if let extra, let response = extra(request) { return response }
        switch path {
        case "/v1/decide": return await decisionAPI(request, filter: false)
        case "/v1/filter": return await decisionAPI(request, filter: true)
        case "/healthz": return Self.text(.ok, "ok\n")
        case "/readyz": return readiness()
        case "/metrics":
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: metrics.exposition())))
        default: return Self.text(.notFound, "not found\n")
        }
    }

    // MARK: Forward auth

    /// `/auth` for nginx and Traefik, `/auth<path>` for Envoy. Answers only 200, 401 or 403, as
    /// nginx turns anything else into a 500.
    private func forwardAuth(_ request: Request, envoyPath: String?) async -> Response {
        let runtime = authorizer.store.runtime
        let header = Self.headerReader(request)
        var forwarded: ForwardedRequest
        do throws(RequestRejection) {
            forwarded = try ForwardedRequest(
                header: header, callMethod: request.method.rawValue, pathAfterAuth: envoyPath, authority: request.head.authority
            )
        } catch {
            let outcome = authorizer.refuse(in: runtime, error)
            log(outcome, "-", "-")
            let method = header("X-Original-Method").first ?? header("X-Forwarded-Method").first
            let uri = header("X-Original-URI").first ?? header("X-Forwarded-Uri").first
            await audit(outcome, endpoint: "auth", request: request, httpMethod: method, httpPath: uri, runtime: runtime)
            return answer(outcome, runtime: runtime)
        }
        let bodyResult = await readBody(request)
        if case let .success(body) = bodyResult { forwarded.body = body }
        let serverID = runtime.snapshot.router.serverID(host: forwarded.host, path: String(forwarded.path))
        let outcome = await authorizer.decide(
            in: runtime, serverID: serverID,
            token: { server throws(TokenFailure) in try BearerTokenExtractor.token(for: server, in: runtime.snapshot, header: header) },
            messages: { () throws(RequestRejection) in
                if case let .failure(rejection) = bodyResult { throw rejection }
                return try forwarded.messages(limits: settings.body)
            }
        )
        log(outcome, forwarded.method, forwarded.uri)
        await audit(outcome, endpoint: "auth", request: request, httpMethod: forwarded.method, httpPath: forwarded.uri, runtime: runtime)
        return answer(outcome, runtime: runtime)
    }

    /// Hands the decision to the audit log (waiting only when its buffer is full).
    private func audit(
        _ outcome: AuthzOutcome, endpoint: String, request: Request, httpMethod: String?, httpPath: String?, runtime: PolicyRuntime
    ) async {
        guard let audit = authorizer.audit else { return }
        await audit.record(
            Self.auditEntry(
                outcome, endpoint: endpoint, requestID: request.headers[.requestID], httpMethod: httpMethod, httpPath: httpPath, runtime: runtime
            )
        )
    }

    /// The audit record of a decision.
    static func auditEntry(
        _ outcome: AuthzOutcome, endpoint: String, requestID: String?, httpMethod: String?, httpPath: String?, runtime: PolicyRuntime
    ) -> AuditEntry {
        let identity = outcome.identity
        let operations = outcome.messages.compactMap { message -> MCPOperation? in
            if case let .call(operation) = message { return operation }
            return nil
        }
        let record = DecisionRecord(
            decisionID: outcome.decisionID, requestID: requestID, endpoint: endpoint, serverID: outcome.serverID,
            httpMethod: httpMethod, httpPath: httpPath, operations: operations,
            issuer: identity.flatMap { runtime.snapshot.issuers[$0.issuerID]?.issuer.value }, subject: identity?.subject,
            email: identity?.email, clientID: identity?.clientID, scopes: identity.map { $0.scopes.sorted() } ?? [],
            allowed: outcome.allowed, status: outcome.status, reason: outcome.reason, rule: outcome.rule,
            policyRevision: outcome.policyRevision, latencyMicroseconds: Int(outcome.started.duration(to: .now).microseconds),
            tokenFingerprint: outcome.tokenFingerprint
        )
        return AuditEntry(time: Date().timeIntervalSince1970, .decision(record))
    }

    /// `/auth` decided on the event loop without suspending, for `ForwardAuthFastPath`: a
    /// request without a body whose token needs no key fetch, read straight from NIO's HTTP/1
    /// head. nil leaves the request to `respond`, which decides it the same way (refusals of
    /// malformed forward headers included).
    func forwardAuthNow(_ head: HTTPRequestHead) -> ImmediateAnswer? {
        let runtime = authorizer.store.runtime
        let fields = head.headers
        // Values as Swift HTTP types would give them to the general path.
        let header: (String) -> [String] = { fields[$0].map(HeaderValue.legalized) }
        guard
            let forwarded = try? ForwardedRequest(
                header: header, callMethod: head.method.rawValue, pathAfterAuth: nil,
                authority: fields.first(name: "Host").map(HeaderValue.legalized)
            )
        else { return nil }
        let serverID = runtime.snapshot.router.serverID(host: forwarded.host, path: String(forwarded.path))
        let decided = authorizer.decideNow(
            in: runtime, serverID: serverID,
            token: { server throws(TokenFailure) in try BearerTokenExtractor.token(for: server, in: runtime.snapshot, header: header) },
            messages: { () throws(RequestRejection) in try forwarded.messages(limits: settings.body) }
        )
        guard let outcome = decided else { return nil }
        log(outcome, forwarded.method, forwarded.uri)
        let entry = authorizer.audit.map { _ in
            let requestIDs = header(HTTPField.Name.requestID.rawName)
            return Self.auditEntry(
                outcome, endpoint: "auth", requestID: requestIDs.isEmpty ? nil : requestIDs.joined(separator: ", "), httpMethod: forwarded.method,
                httpPath: forwarded.uri, runtime: runtime
            )
        }
        var headers = HTTPHeaders()
        let (status, body) = answerParts(outcome, runtime: runtime, headers: &headers)
        let response = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: headers)
        return ImmediateAnswer(head: response, body: body, auditEntry: entry)
    }

    /// A response made without suspending, and the audit record to queue before sending it.
    struct ImmediateAnswer {
        var head: HTTPResponseHead
        var body: [UInt8]
        var auditEntry: AuditEntry?
    }

    private func answer(_ outcome: AuthzOutcome, runtime: PolicyRuntime) -> Response {
        var headers = HTTPFields()
        let (status, body) = answerParts(outcome, runtime: runtime, headers: &headers)
        return Response(status: HTTPResponse.Status(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// The forward-auth answer: 200 with the identity headers, or 401/403 with the challenge,
    /// the reason and a small JSON body. Content-Length is set. The headers go to Swift HTTP
    /// types for Hummingbird or straight to NIO's for the fast path.
    private func answerParts(_ outcome: AuthzOutcome, runtime: PolicyRuntime, headers: inout some AnswerHeaders) -> (Int, [UInt8]) {
        headers.set(.authzDecisionID, outcome.decisionID)
        headers.set(.authzPolicyRevision, outcome.policyRevision)
        if outcome.allowed {
            if let identity = outcome.identity {
                headers.set(.authzSubject, HeaderValue.sanitized(identity.subject ?? ""))
                headers.set(.authzEmail, HeaderValue.sanitized(identity.usableEmail ?? ""))
                headers.set(.authzScopes, HeaderValue.scopes(identity.scopes))
                headers.set(.authzIssuer, HeaderValue.sanitized(runtime.snapshot.issuers[identity.issuerID]?.issuer.value ?? ""))
                headers.set(.authzClient, HeaderValue.sanitized(identity.clientID ?? ""))
            }
            headers.set(.authzServer, outcome.serverID ?? "")
            headers.set(.contentLength, "0")
            return (200, [])
        }
        headers.set(.authzReason, outcome.reason)
        let challenge = outcome.serverID.flatMap { runtime.challenges[$0] }
        if outcome.status == 401 {
            headers.set(.wwwAuthenticate, challenge?.unauthorized(tokenSent: outcome.tokenSent) ?? "Bearer")
        } else if !outcome.requiredScopes.isEmpty, let challenge {
            headers.set(.wwwAuthenticate, challenge.insufficientScope(outcome.requiredScopes))
        }
        let body = Self.errorBody(outcome)
        headers.set(.contentType, "application/json")
        headers.set(.contentLength, String(body.count))
        return (outcome.status == 401 ? 401 : 403, body)
    }

    private static func errorBody(_ outcome: AuthzOutcome) -> [UInt8] {
        var json = JSONWriter()
        json.field("error", outcome.status == 401 ? "unauthorized" : "forbidden")
        json.field("reason", outcome.reason)
        json.field("decision_id", outcome.decisionID)
        return json.finish()
    }

    /// The body, when the request has one; a refusal when it is larger than allowed.
    private func readBody(_ request: Request) async -> Result<[UInt8]?, RequestRejection> {
        let length = request.headers[.contentLength].flatMap { Int($0) }
        let chunked = request.headers[.transferEncoding] != nil
        guard (length ?? 0) > 0 || chunked else { return .success(nil) }
        if let length, length > settings.body.maxBytes {
            return .failure(RequestRejection(.bodyTooLarge, "body of \(length) bytes exceeds \(settings.body.maxBytes)"))
        }
        do {
            let buffer = try await request.body.collect(upTo: settings.body.maxBytes)
            return .success(Array(buffer.readableBytesView))
        } catch is NIOTooManyBytesError {
            return .failure(RequestRejection(.bodyTooLarge, "body exceeds \(settings.body.maxBytes) bytes"))
        } catch {
            return .failure(RequestRejection(.bodyInvalid, "body could not be read"))
        }
    }

    private func log(_ outcome: AuthzOutcome, _ method: String, _ uri: String) {
        guard logger.logLevel <= .debug || !outcome.allowed else { return }
        var metadata: Logger.Metadata = [
            "authz.decision": "\(outcome.allowed ? "allow" : "deny")", "authz.status": "\(outcome.status)",
            "authz.reason": "\(outcome.reason)", "authz.decision_id": "\(outcome.decisionID)",
            "authz.server": "\(outcome.serverID ?? "-")", "http.method": "\(method)",
            "http.path": "\(HeaderValue.sanitized(uri, maxBytes: 512))",
        ]
        if let rule = outcome.rule { metadata["authz.rule"] = "\(rule)" }
        if let detail = outcome.detail { metadata["authz.detail"] = "\(detail)" }
        logger.log(level: outcome.allowed ? .debug : .info, "decision", metadata: metadata)
    }

    // MARK: Decision API

    /// `POST /v1/decide` and `POST /v1/filter`: a JSON question, a JSON answer (200); 400 for a
    /// malformed question, 413 for an oversized one.
    private func decisionAPI(_ request: Request, filter: Bool) async -> Response {
        guard request.method == .post else {
            var headers = HTTPFields()
            headers[.allow] = "POST"
            return Self.problem(.methodNotAllowed, "use POST", headers: headers)
        }
        let body: [UInt8]
        switch await readBody(request) {
        case let .success(bytes?): body = bytes
        case .success(nil): return Self.problem(.badRequest, "the request has no body")
        case let .failure(rejection) where rejection.reason == .bodyTooLarge: return Self.problem(.contentTooLarge, rejection.message)
        case let .failure(rejection): return Self.problem(.badRequest, rejection.message)
        }
        let runtime = authorizer.store.runtime
        do throws(DecisionAPIError) {
            if filter {
                let question = try FilterQuestion(body, maxNames: settings.maxFilterNames)
                return Self.json(.ok, await filterAnswer(question, request: request, runtime: runtime))
            }
            let question = try DecideQuestion(body)
            let outcome = await authorizer.decide(
                in: runtime, serverID: runtime.snapshot.servers[question.server] == nil ? nil : question.server,
                token: { _ throws(TokenFailure) in try question.bearerToken() },
                messages: { [question.message] }
            )
            log(outcome, "API", "/v1/decide")
            await audit(outcome, endpoint: "decide", request: request, httpMethod: nil, httpPath: nil, runtime: runtime)
            return Self.json(.ok, decideAnswer(outcome, runtime: runtime))
        } catch {
            return Self.problem(.badRequest, error.message)
        }
    }

    private func decideAnswer(_ outcome: AuthzOutcome, runtime: PolicyRuntime) -> [UInt8] {
        var json = JSONWriter()
        json.field("allow", outcome.allowed)
        json.field("status", outcome.status)
        json.field("reason", outcome.reason)
        json.field("rule", outcome.rule)
        json.field("server", outcome.serverID)
        json.field("subject", outcome.identity?.subject)
        json.field("email", outcome.identity?.usableEmail)
        json.field("scopes", outcome.identity.map { $0.scopes.sorted() } ?? [])
        json.field("required_scopes", outcome.requiredScopes)
        json.field("decision_id", outcome.decisionID)
        json.field("policy_revision", outcome.policyRevision)
        json.field("www_authenticate", wwwAuthenticate(outcome, runtime: runtime))
        return json.finish()
    }

    /// The header an MCP server should send its client with a denial.
    private func wwwAuthenticate(_ outcome: AuthzOutcome, runtime: PolicyRuntime) -> String? {
        guard let challenge = outcome.serverID.flatMap({ runtime.challenges[$0] }) else { return nil }
        if outcome.status == 401 { return challenge.unauthorized(tokenSent: outcome.tokenSent) }
        if outcome.status == 403, !outcome.requiredScopes.isEmpty { return challenge.insufficientScope(outcome.requiredScopes) }
        return nil
    }

    private func filterAnswer(_ question: FilterQuestion, request: Request, runtime: PolicyRuntime) async -> [UInt8] {
        let outcome = await authorizer.decide(
            in: runtime, serverID: runtime.snapshot.servers[question.server] == nil ? nil : question.server,
            token: { _ throws(TokenFailure) in try question.bearerToken() }, messages: { nil }
        )
        log(outcome, "API", "/v1/filter")
        await audit(outcome, endpoint: "filter", request: request, httpMethod: nil, httpPath: nil, runtime: runtime)
        var json = JSONWriter()
        json.field("allow", outcome.allowed)
        json.field("status", outcome.status)
        json.field("reason", outcome.reason)
        json.field("decision_id", outcome.decisionID)
        json.field("policy_revision", outcome.policyRevision)
        for (kind, names) in question.lists {
            var permitted: [String] = []
            if outcome.allowed, let serverID = outcome.serverID, let identity = outcome.identity {
                let method = FilterQuestion.method(for: kind)
                permitted = names.filter { name in
                    runtime.snapshot.decide(
                        DecisionInput(serverID: serverID, identity: identity, operation: MCPOperation(method: method, name: name))
                    ).isAllowed
                }
            }
            json.field(FilterQuestion.key(for: kind), permitted)
        }
        json.field("www_authenticate", wwwAuthenticate(outcome, runtime: runtime))
        return json.finish()
    }

    // MARK: Metadata and health

    /// RFC 9728 metadata for the server whose `resource` has the request's host and the path
    /// after the well-known prefix.
    private func protectedResourceMetadata(_ request: Request, suffix: Substring) -> Response {
        guard request.method == .get || request.method == .head else { return Self.problem(.methodNotAllowed, "use GET") }
        let header = Self.headerReader(request)
        let forwardedHost = header("X-Forwarded-Host")
        guard forwardedHost.count <= 1, let host = forwardedHost.first ?? request.head.authority else {
            return Self.problem(.badRequest, "one Host or X-Forwarded-Host is required")
        }
        let runtime = authorizer.store.runtime
        guard let document = runtime.metadata.document(host: host, suffix: suffix) else {
            return Self.problem(.notFound, "no protected resource at this host and path")
        }
        var headers = HTTPFields()
        headers[.cacheControl] = "public, max-age=300"
        return Self.json(.ok, headers: headers, document)
    }

    private func readiness() -> Response {
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
        return Self.json(ready ? .ok : .serviceUnavailable, json.finish())
    }

    // MARK: Helpers

    static func headerReader(_ request: Request) -> @Sendable (String) -> [String] {
        let fields = request.headers
        return { name in
            guard let field = HTTPField.Name(name) else { return [] }
            return fields[values: field]
        }
    }

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
        return Self.json(status, headers: headers, json.finish())
    }
}

extension HTTPField.Name {
    static let authzSubject = Self("X-Authz-Subject")!
    static let authzEmail = Self("X-Authz-Email")!
    static let authzScopes = Self("X-Authz-Scopes")!
    static let authzIssuer = Self("X-Authz-Issuer")!
    static let authzClient = Self("X-Authz-Client")!
    static let authzServer = Self("X-Authz-Server")!
    static let authzDecisionID = Self("X-Authz-Decision-Id")!
    static let authzPolicyRevision = Self("X-Authz-Policy-Revision")!
    static let authzReason = Self("X-Authz-Reason")!
    static let requestID = Self("X-Request-Id")!
}

extension Duration {
    /// Whole microseconds.
    var microseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000 + attoseconds / 1_000_000_000_000
    }
}

/// Where a forward-auth answer's headers go: Swift HTTP types (Hummingbird's responses) or
/// NIO's own (the event loop's fast path).
protocol AnswerHeaders {
    mutating func set(_ name: HTTPField.Name, _ value: String)
}

extension HTTPFields: AnswerHeaders {
    mutating func set(_ name: HTTPField.Name, _ value: String) {
        self[name] = value
    }
}

extension HTTPHeaders: AnswerHeaders {
    /// Adds the field: `answerParts` sets each name once, on headers it made empty. Values are
    /// checked for CR, LF and NUL when written (the pipeline validates outbound headers), as
    /// Swift HTTP types would when they are set.
    mutating func set(_ name: HTTPField.Name, _ value: String) {
        add(name: name.rawName, value: value)
    }
}
