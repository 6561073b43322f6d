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

    /// The answer to one call, for either entry to send.
    struct Answer {
        var status: Int
        var headers: [(HTTPField.Name, String)]
        var body: [UInt8]
        /// The audit record to queue before the answer is sent; nil with the audit log off.
        var auditEntry: AuditEntry?
    }

    /// An answer made without suspending, as NIO's parts, and what it was made from (to answer
    /// a denial instead when its audit record is dropped while it waits for room).
    struct ImmediateAnswer {
        var head: HTTPResponseHead
        var body: [UInt8]
        var auditEntry: AuditEntry?
        var source: Source
    }

    /// What an answer was made from.
    struct Source {
        var outcome: AuthzOutcome
        var call: ForwardAuthQuestion
        var method: String?
        var uri: String?
        var runtime: PolicyRuntime
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
        var answer = answer(outcome.0, call: call, method: outcome.method, uri: outcome.uri, runtime: runtime)
        if let entry = answer.auditEntry, let audit, !(await audit.record(entry)), authorizer.mustWithhold(outcome.0) {
            answer = self.answer(authorizer.withheld(outcome.0), call: call, method: outcome.method, uri: outcome.uri, runtime: runtime)
            if let denial = answer.auditEntry { await audit.record(denial) }
        }
        return Response(
            status: HTTPResponse.Status(code: answer.status), headers: HTTPFields(answer.headers.map { HTTPField(name: $0.0, value: $0.1) }),
            body: .init(byteBuffer: ByteBuffer(bytes: answer.body))
        )
    }

    /// The fast path's entry: the answer when it can be decided now, nil to leave the call to
    /// `respond` (a token needing a key fetch; forward headers that must be refused, which
    /// `respond` does with the audit record it writes for them).
    func answerNow(_ head: HTTPRequestHead) -> ImmediateAnswer? {
        let call = ForwardAuthQuestion(head)
        let runtime = authorizer.store.runtime
        guard case let .ask(question, forwarded) = question(call, body: .success(nil), runtime: runtime),
            let outcome = authorizer.decideNow(question)
        else { return nil }
        return immediate(Source(outcome: outcome, call: call, method: forwarded.method, uri: forwarded.uri, runtime: runtime))
    }

    /// For the fast path, when an answer's audit record was dropped while it waited for room:
    /// the denial to send instead of an allow (its own record offered), or nil to send it as
    /// it is.
    func withheld(_ answer: ImmediateAnswer) -> ImmediateAnswer? {
        guard authorizer.mustWithhold(answer.source.outcome) else { return nil }
        var source = answer.source
        source.outcome = authorizer.withheld(source.outcome)
        let denial = immediate(source)
        if let entry = denial.auditEntry { audit?.recordOrCount(entry) }
        return denial
    }

    private func immediate(_ source: Source) -> ImmediateAnswer {
        let answer = answer(source.outcome, call: source.call, method: source.method, uri: source.uri, runtime: source.runtime)
        var headers = HTTPHeaders()
        headers.reserveCapacity(answer.headers.count)
        for (name, value) in answer.headers { headers.add(name: name.rawName, value: value) }
        return ImmediateAnswer(
            head: HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: answer.status), headers: headers),
            body: answer.body, auditEntry: answer.auditEntry, source: source
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
        let question = AuthzQuestion(
            runtime: runtime, serverID: runtime.snapshot.router.serverID(host: forwarded.host, path: String(forwarded.path)),
            token: { server throws(TokenFailure) in try BearerTokenExtractor.token(for: server, in: runtime.snapshot, header: header) },
            messages: { [forwarded] () throws(RequestRejection) in
                if case let .failure(rejection) = body { throw rejection }
                return try forwarded.messages(limits: limits)
            }
        )
        return .ask(question, forwarded)
    }

    /// The answer to an outcome: 200 with the identity headers, or 401/403 with the challenge,
    /// the reason and a small JSON body; Content-Length set. Logs the decision and makes its
    /// audit record.
    private func answer(_ outcome: AuthzOutcome, call: ForwardAuthQuestion, method: String?, uri: String?, runtime: PolicyRuntime) -> Answer {
        outcome.log(to: logger, method: method ?? "-", path: uri ?? "-")
        let entry = audit.map { _ in
            AuditEntry(
                time: Date().timeIntervalSince1970,
                .decision(DecisionRecord(outcome, endpoint: "auth", requestID: call.requestID, httpMethod: method, httpPath: uri, runtime: runtime))
            )
        }
        var headers: [(HTTPField.Name, String)] = [(.authzDecisionID, outcome.decisionID), (.authzPolicyRevision, outcome.policyRevision)]
        if outcome.allowed {
            if let identity = outcome.identity {
                headers += [
                    (.authzSubject, HeaderValue.sanitized(identity.subject ?? "")),
                    (.authzEmail, HeaderValue.sanitized(identity.usableEmail ?? "")),
                    (.authzScopes, HeaderValue.scopes(identity.scopes)),
                    (.authzIssuer, HeaderValue.sanitized(runtime.snapshot.issuers[identity.issuerID]?.issuer.value ?? "")),
                    (.authzClient, HeaderValue.sanitized(identity.clientID ?? "")),
                ]
            }
            headers += [(.authzServer, outcome.serverID ?? ""), (.contentLength, "0")]
            return Answer(status: 200, headers: headers, body: [], auditEntry: entry)
        }
        headers.append((.authzReason, outcome.reason))
        if let challenge = outcome.challenge(in: runtime) ?? (outcome.status == 401 ? "Bearer" : nil) {
            headers.append((.wwwAuthenticate, challenge))
        }
        var json = JSONWriter()
        json.field("error", outcome.status == 401 ? "unauthorized" : "forbidden")
        json.field("reason", outcome.reason)
        json.field("decision_id", outcome.decisionID)
        let body = json.finish()
        headers += [(.contentType, "application/json"), (.contentLength, String(body.count))]
        return Answer(status: outcome.status == 401 ? 401 : 403, headers: headers, body: body, auditEntry: entry)
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
