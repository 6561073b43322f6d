import Foundation
import HTTPTypes
import Hummingbird
import Logging
import MCPAuthzPolicy
import MCPAuthzTokens

extension Authorizer {
    /// A decision asked over a JSON API (not forward auth, which answers from its own path):
    /// decided, audited as `endpoint` with the asker's request id (`recorded`), and logged under
    /// `path`.
    func decideRecorded(_ question: AuthzQuestion, endpoint: String, path: String, requestID: String?, logger: Logger) async -> AuthzOutcome {
        let outcome = await recorded(await decide(question)) { outcome in
            let record = DecisionRecord(outcome, endpoint: endpoint, requestID: requestID, httpMethod: nil, httpPath: nil, runtime: question.runtime)
            return AuditEntry(time: Date().timeIntervalSince1970, .decision(record))
        }
        outcome.log(to: logger, method: "API", path: path)
        return outcome
    }
}

/// `POST /v1/decide` and `POST /v1/filter`, for MCP servers that ask themselves: a JSON
/// question, a JSON answer (200); 400 for a malformed question, 405 for another method, 413 for
/// an oversized one.
struct DecisionAPIEndpoint: Sendable {
    let authorizer: Authorizer
    let settings: SidecarSettings
    let logger: Logger

    func respond(to request: Request, filter: Bool) async -> Response {
        guard request.method == .post else {
            var headers = HTTPFields()
            headers[.allow] = "POST"
            return Response.problem(.methodNotAllowed, "use POST", headers: headers)
        }
        let body: [UInt8]
        switch await RequestBody.read(request, maxBytes: settings.body.maxBytes) {
        case let .success(bytes?): body = bytes
        case .success(nil): return Response.problem(.badRequest, "the request has no body")
        case let .failure(rejection) where rejection.reason == .bodyTooLarge: return Response.problem(.contentTooLarge, rejection.message)
        case let .failure(rejection): return Response.problem(.badRequest, rejection.message)
        }
        let runtime = authorizer.store.runtime
        do throws(DecisionAPIError) {
            if filter {
                let question = try FilterQuestion(body, maxNames: settings.maxFilterNames)
                return Response.json(.ok, await filterAnswer(question, request: request, runtime: runtime))
            }
            let question = try DecideQuestion(body)
            let outcome = await decide(
                server: question.server, token: question.presentedToken, messages: { [question.message] }, endpoint: "decide",
                request: request, runtime: runtime, clientIP: question.clientIP
            )
            return Response.json(.ok, decideAnswer(outcome, runtime: runtime))
        } catch {
            return Response.problem(.badRequest, error.message)
        }
    }

    /// Decides a question about a server named in the body (none when the policy has no such
    /// server), then logs the decision and hands its record to the audit log.
    private func decide(
        server: String, token: @escaping () throws(TokenFailure) -> PresentedToken, messages: @escaping () -> [MCPMessage]?,
        endpoint: String, request: Request, runtime: PolicyRuntime, clientIP: String? = nil
    ) async -> AuthzOutcome {
        // A decision counts against the server's limits; a list filter does not (it asks what
        // may be shown, not to do it).
        await authorizer.decideRecorded(
            AuthzQuestion(
                runtime: runtime, serverID: runtime.snapshot.servers[server] == nil ? nil : server,
                token: { _ throws(TokenFailure) in try token() }, messages: { _ in messages() }, clientIP: clientIP,
                limited: endpoint == "decide", checksProof: endpoint == "decide"
            ),
            endpoint: endpoint, path: "/v1/\(endpoint)", requestID: request.headers[.requestID], logger: logger
        )
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
        if let limit = outcome.limit {
            json.field("limit", limit.limit)
            json.field("retry_after", limit.retryAfter)
        }
        if let would = outcome.wouldDecide { json.field(would.field, would.rule) }
        if let shadow = outcome.shadow { json.object("shadow") { shadow.write(into: &$0) } }
        json.field("decision_id", outcome.decisionID)
        json.field("policy_revision", outcome.policyRevision)
        // The header an MCP server should send its client with a denial.
        json.field("www_authenticate", outcome.challenge(in: runtime))
        return json.finish()
    }

    private func filterAnswer(_ question: FilterQuestion, request: Request, runtime: PolicyRuntime) async -> [UInt8] {
        let outcome = await decide(
            server: question.server, token: { () throws(TokenFailure) in PresentedToken(token: try question.bearerToken()) }, messages: { nil },
            endpoint: "filter", request: request, runtime: runtime
        )
        var json = JSONWriter()
        json.field("allow", outcome.allowed)
        json.field("status", outcome.status)
        json.field("reason", outcome.reason)
        json.field("decision_id", outcome.decisionID)
        json.field("policy_revision", outcome.policyRevision)
        let server = outcome.serverID.flatMap { runtime.snapshot.servers[$0]?.config }
        // A pinning server's live definitions: recorded, and the tools that differ are withheld.
        var changed: [String] = []
        if outcome.allowed, let server, server.pinDefinitions, let catalog = server.catalog {
            for (tool, hash) in question.definitions {
                authorizer.definitions.record(server: server.id.value, tool: tool, hash: hash, catalog: catalog)
            }
            let tools = question.lists.first { $0.0 == .tool }?.1 ?? []
            changed = tools.filter { authorizer.definitions.problem(server: server.id.value, tool: $0, catalog: catalog) != nil }
        }
        // A set: a list may hold 10,000 names.
        let withheld = Set(changed)
        for (kind, names) in question.lists {
            var permitted: [String] = []
            if outcome.allowed, let serverID = outcome.serverID, let identity = outcome.identity {
                let method = FilterQuestion.method(for: kind)
                permitted = names.filter { name in
                    !(kind == .tool && withheld.contains(name))
                        && runtime.snapshot.decide(
                            // Shown when some call to it could be allowed: its arguments are the call's business.
                            DecisionInput(
                                serverID: serverID, identity: identity, operation: MCPOperation(method: method, name: name, arguments: .any))
                        ).isAllowed
                }
            }
            json.field(FilterQuestion.key(for: kind), permitted)
        }
        if server?.pinDefinitions == true { json.field("changed", changed) }
        json.field("www_authenticate", outcome.challenge(in: runtime))
        return json.finish()
    }
}
