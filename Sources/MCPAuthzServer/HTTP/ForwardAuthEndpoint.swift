import Foundation
import HTTPTypes
import Hummingbird
import Logging
import MCPAuthzPolicy
import MCPAuthzTokens
import NIOCore
import NIOHTTP1

/// `/auth` for nginx and Traefik, `/auth<path>` for Envoy: decides the request the proxy asks
/// about and answers only 200, 401 or 403 (nginx turns anything else into a 500).
///
/// Two entries share one decision (`question(_:body:runtime:)`, then `answer(_:)`): `respond`
/// for Hummingbird (any call, with its body), and `answerNow` for the event loop's fast path
/// (a plain `/auth` call whose token needs no key fetch).
struct ForwardAuthEndpoint: Sendable {
    let authorizer: Authorizer
    let settings: SidecarSettings
    let logger: Logger

    var audit: AuditLog? { authorizer.audit }

    /// The answer to one call, its headers in the type the entry sends.
    struct Answer<Headers: AnswerHeaders> {
        var status: Int
        var headers: Headers
        var body: [UInt8]
    }

    /// An answer made without suspending, as NIO's parts.
    struct ImmediateAnswer {
        var head: HTTPResponseHead
        var body: [UInt8]
    }

    /// What the fast path sends.
    enum FastAnswer {
        /// Send it now: its record, if any, is kept as the durability mode asks.
        case now(ImmediateAnswer)
        /// Send `answer` once its record is kept (`AuditWait`); or, when the record is dropped
        /// or the log fails first, what `ifDropped` makes (an allow withheld, with its own
        /// record to offer), when given.
        case afterAudit(ImmediateAnswer, AuditWait, ifDropped: (@Sendable () -> (ImmediateAnswer, AuditEntry?))?)
    }

    /// What an answer of the fast path waits for.
    enum AuditWait {
        /// The audit buffer is full: queue this record, waiting for room (and, under
        /// `--audit-durability written|synced`, for its writing).
        case room(AuditEntry)
        /// The record is queued at this position: wait for its writing (group commit).
        case written(UInt64)
    }

    // MARK: The two entries

    /// The general entry, through Hummingbird.
    func respond(to request: Request, envoyPath: String?) async -> Response {
        let call = ForwardAuthQuestion(request, envoyPath: envoyPath)
        let body = await RequestBody.read(request, maxBytes: settings.body.maxBytes)
        let runtime = authorizer.store.runtime
        let outcome: (AuthzOutcome, method: String?, uri: String?) =
            switch question(call, body: body, runtime: runtime) {
            case let .refused(outcome): (outcome, call.claimedOriginal.method, call.claimedOriginal.uri)
            case let .ask(question, forwarded): (await authorizer.decide(question), forwarded.method, forwarded.uri)
            }
        let decided = await authorizer.recorded(outcome.0) {
            auditEntry($0, call: call, method: outcome.method, uri: outcome.uri, runtime: runtime)
        }
        let answer = answer(decided, method: outcome.method, uri: outcome.uri, runtime: runtime, headers: HTTPFields())
        return Response(
            status: HTTPResponse.Status(code: answer.status), headers: answer.headers, body: .init(byteBuffer: ByteBuffer(bytes: answer.body))
        )
    }

    /// The fast path's entry: the answer when it can be decided now, its record queued (or to
    /// be queued, when the buffer is full); nil to leave the call to `respond` (a token needing
    /// a key fetch; forward headers that must be refused, which `respond` does with the audit
    /// record it writes for them).
    func answerNow(_ head: HTTPRequestHead) -> FastAnswer? {
        let call = ForwardAuthQuestion(head)
        let runtime = authorizer.store.runtime
        guard case let .ask(question, forwarded) = question(call, body: .success(nil), runtime: runtime),
            let outcome = authorizer.decideNow(question)
        else { return nil }
        let answer = immediate(outcome, call: call, method: forwarded.method, uri: forwarded.uri, runtime: runtime)
        guard let entry = answer.auditEntry, let audit else { return .now(answer.answer) }
        let wait: AuditWait
        switch audit.recordNow(entry) {
        case .kept: return .now(answer.answer)
        case let .queued(position): wait = .written(position)
        case .full: wait = .room(entry)  // rare
        }
        // Made only when the allow is withheld: making an answer logs it, and most allows wait
        // for their write and are sent.
        let (method, uri) = (forwarded.method, forwarded.uri)
        guard authorizer.mustWithhold(outcome) else { return .afterAudit(answer.answer, wait, ifDropped: nil) }
        return .afterAudit(answer.answer, wait) { [self] in
            let denial = immediate(authorizer.withheld(outcome), call: call, method: method, uri: uri, runtime: runtime)
            return (denial.answer, denial.auditEntry)
        }
    }

    private func immediate(
        _ outcome: AuthzOutcome, call: ForwardAuthQuestion, method: String?, uri: String?, runtime: PolicyRuntime
    ) -> (answer: ImmediateAnswer, auditEntry: AuditEntry?) {
        var headers = HTTPHeaders()
        headers.reserveCapacity(10)
        let answer = answer(outcome, method: method, uri: uri, runtime: runtime, headers: headers)
        let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: answer.status), headers: answer.headers)
        let entry = audit.map { _ in auditEntry(outcome, call: call, method: method, uri: uri, runtime: runtime) }
        return (ImmediateAnswer(head: head, body: answer.body), entry)
    }

    /// The audit record of an outcome of `/auth`.
    private func auditEntry(_ outcome: AuthzOutcome, call: ForwardAuthQuestion, method: String?, uri: String?, runtime: PolicyRuntime) -> AuditEntry {
        AuditEntry(
            time: Date().timeIntervalSince1970,
            .decision(DecisionRecord(outcome, endpoint: "auth", requestID: call.requestID, httpMethod: method, httpPath: uri, runtime: runtime))
        )
    }

    // MARK: The one decision

    private enum Asked {
        /// The forward headers are unusable: refused before any server is named.
        case refused(AuthzOutcome)
        case ask(AuthzQuestion, ForwardedRequest)
    }

    /// What the call asks, from its headers and body, against the policy in force.
    private func question(_ call: ForwardAuthQuestion, body: Result<[UInt8]?, RequestRejection>, runtime: PolicyRuntime) -> Asked {
        var forwarded: ForwardedRequest
        do throws(RequestRejection) {
            forwarded = try ForwardedRequest(
                header: call.header, callMethod: call.callMethod, pathAfterAuth: call.envoyPath, authority: call.authority
            )
        } catch {
            return .refused(authorizer.refuse(in: runtime, error))
        }
        if case let .success(bytes) = body { forwarded.body = bytes }
        let (limits, header) = (settings.body, call.header)
        var question = AuthzQuestion(
            runtime: runtime, serverID: runtime.snapshot.router.serverID(host: forwarded.host, path: String(forwarded.path)),
            token: { [forwarded] server throws(TokenFailure) in
                var presented = try BearerTokenExtractor.presented(for: server, in: runtime.snapshot, header: header)
                presented.request = DPoPRequest(
                    method: forwarded.method,
                    url: DPoPRequest.url(scheme: Self.single(header("X-Forwarded-Proto")), host: forwarded.host, uri: forwarded.uri)
                )
                return presented
            },
            messages: { [forwarded] server throws(RequestRejection) in
                if case let .failure(rejection) = body { throw rejection }
                return try forwarded.messages(limits: limits, catalog: server.catalog, header: header)
            },
            clientIP: Self.clientIP(header(settings.clientIPHeader))
        )
        question.origins = header("Origin")
        return .ask(question, forwarded)
    }

    /// A header's one value; none when absent or sent more than once.
    static func single(_ values: [String]) -> String? {
        values.count == 1 ? values.first : nil
    }

    /// The client's address from the proxy's header: one value, at most 64 bytes; else none
    /// (limits keyed by `client_ip` then count such requests together).
    static func clientIP(_ values: [String]) -> String? {
        guard values.count == 1, let value = values.first, !value.isEmpty, value.utf8.count <= 64 else { return nil }
        return value
    }

    /// The answer to an outcome: 200 with the identity headers, or 401/403 with the challenge,
    /// the reason and a small JSON body; Content-Length set. Logs the decision.
    private func answer<Headers: AnswerHeaders>(
        _ outcome: AuthzOutcome, method: String?, uri: String?, runtime: PolicyRuntime, headers: Headers
    ) -> Answer<Headers> {
        outcome.log(to: logger, method: method ?? "-", path: uri ?? "-")
        var headers = headers
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
            return Answer(status: 200, headers: headers, body: [])
        }
        headers.set(.authzReason, outcome.reason)
        // nginx's auth_request passes only 401 and 403: a limit answers 403 saying so, and the
        // shipped configurations turn it into 429 with Retry-After.
        if let limit = outcome.limit {
            headers.set(.retryAfter, String(limit.retryAfter))
            // The policy allows printable ASCII only in a limit's name.
            headers.set(.authzLimit, limit.limit)
        }
        if let challenge = outcome.challenge(in: runtime) ?? (outcome.status == 401 ? "Bearer" : nil) {
            headers.set(.wwwAuthenticate, challenge)
        }
        var json = JSONWriter()
        json.field("error", outcome.status == 401 ? "unauthorized" : "forbidden")
        json.field("reason", outcome.reason)
        if let limit = outcome.limit {
            json.field("limit", limit.limit)
            json.field("retry_after", limit.retryAfter)
        }
        json.field("decision_id", outcome.decisionID)
        let body = json.finish()
        headers.set(.contentType, "application/json")
        headers.set(.contentLength, String(body.count))
        return Answer(status: outcome.status == 401 ? 401 : 403, headers: headers, body: body)
    }
}

/// Where a forward-auth answer's headers go: Swift HTTP types (Hummingbird's responses) or
/// NIO's own (the event loop's fast path), written straight into either.
protocol AnswerHeaders {
    mutating func set(_ name: HTTPField.Name, _ value: String)
}

extension HTTPFields: AnswerHeaders {
    mutating func set(_ name: HTTPField.Name, _ value: String) {
        self[name] = value
    }
}

extension HTTPHeaders: AnswerHeaders {
    /// Adds the field: `answer` sets each name once, on headers made empty. Values are checked
    /// for CR, LF and NUL when written (the pipeline validates outbound headers), as Swift HTTP
    /// types would when they are set.
    mutating func set(_ name: HTTPField.Name, _ value: String) {
        add(name: name.rawName, value: value)
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
    static let authzLimit = Self("X-Authz-Limit")!
    static let requestID = Self("X-Request-Id")!
}
