import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import MCPAuthzPolicy
import MCPAuthzTokens

/// The OpenID AuthZEN Authorization API 1.0 over the policy, with the COAZ-MCP mapping:
/// `action.name` is the MCP method; `resource` is `{type: tool|prompt|resource, id}` for a
/// named target, or `{type: mcp_server, id}` for a method that names none. A deny is `200
/// {"decision": false}` with the reason in `context`; HTTP errors are about the request itself.
struct AuthZENEndpoint: Sendable {
    let authorizer: Authorizer
    let settings: SidecarSettings
    let logger: Logger

    static let evaluationPath = "/access/v1/evaluation"
    static let evaluationsPath = "/access/v1/evaluations"
    static let resourceSearchPath = "/access/v1/search/resource"
    static let actionSearchPath = "/access/v1/search/action"
    static let configurationPath = "/.well-known/authzen-configuration"
    static let paths: Set<String> = [evaluationPath, evaluationsPath, resourceSearchPath, actionSearchPath, configurationPath]

    /// The most results one search page holds.
    static let maxPageSize = 1000

    func respond(to request: Request, path: String) async -> Response {
        var response = await answer(request, path: path)
        // A request identifier is echoed, as the API asks (bounded, printable only).
        if let id = request.headers[.requestID], id.utf8.count <= 256, id.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) {
            response.headers[.requestID] = id
        }
        return response
    }

    private func answer(_ request: Request, path: String) async -> Response {
        if path == Self.configurationPath {
            guard request.method == .get || request.method == .head else { return Self.error(.methodNotAllowed, "use GET", allow: "GET") }
            return Response.json(.ok, configuration(request))
        }
        guard request.method == .post else { return Self.error(.methodNotAllowed, "use POST", allow: "POST") }
        let object: [String: ClaimValue]
        switch await RequestBody.read(request, maxBytes: settings.body.maxBytes) {
        case let .success(bytes?):
            guard case let .object(fields)? = try? ClaimValue.parseJSON(bytes, maxDepth: settings.body.maxDepth) else {
                return Self.error(.badRequest, "the body is not a JSON object")
            }
            object = fields
        case .success(nil): return Self.error(.badRequest, "the request has no body")
        case let .failure(rejection) where rejection.reason == .bodyTooLarge: return Self.error(.contentTooLarge, rejection.message)
        case let .failure(rejection): return Self.error(.badRequest, rejection.message)
        }
        let runtime = authorizer.store.runtime
        let requestID = request.headers[.requestID]
        do throws(AuthZENError) {
            switch path {
            case Self.evaluationPath:
                let evaluation = try Evaluation(object, defaults: nil)
                return Response.json(.ok, decisionJSON(await evaluate(evaluation, requestID: requestID, runtime: runtime)))
            case Self.evaluationsPath:
                return Response.json(.ok, try await evaluations(object, requestID: requestID, runtime: runtime))
            case Self.resourceSearchPath:
                return Response.json(.ok, try await searchResources(object, requestID: requestID, runtime: runtime))
            default:
                return Response.json(.ok, try await searchActions(object, requestID: requestID, runtime: runtime))
            }
        } catch {
            return Self.error(.badRequest, error.message)
        }
    }

    /// An HTTP error: a message string, as the API's error responses are.
    static func error(_ status: HTTPResponse.Status, _ message: String, allow: String? = nil) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; charset=utf-8"
        if let allow { headers[.allow] = allow }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: message + "\n")))
    }

    // MARK: Metadata

    /// `/.well-known/authzen-configuration`: the PDP identifier is `--authzen-pdp-url`, else the
    /// scheme and host the request came with (`X-Forwarded-Proto`, `X-Forwarded-Host`, `Host`).
    private func configuration(_ request: Request) -> [UInt8] {
        let base: String
        if let configured = settings.authzenPDPURL {
            base = configured
        } else {
            let scheme = request.headers[HTTPField.Name("X-Forwarded-Proto")!].map { $0.asciiLowercased() } == "https" ? "https" : "http"
            let host = request.headers[HTTPField.Name("X-Forwarded-Host")!] ?? request.head.authority ?? "127.0.0.1"
            base = "\(scheme)://\(HeaderValue.sanitized(host, maxBytes: 255))"
        }
        var json = JSONWriter()
        json.field("policy_decision_point", base)
        json.field("access_evaluation_endpoint", base + Self.evaluationPath)
        json.field("access_evaluations_endpoint", base + Self.evaluationsPath)
        json.field("search_resource_endpoint", base + Self.resourceSearchPath)
        json.field("search_action_endpoint", base + Self.actionSearchPath)
        return json.finish()
    }

    // MARK: Evaluations

    /// `evaluations` with the top-level entities as defaults, under `options.evaluations_semantic`;
    /// without any, a single evaluation (answered as one).
    private func evaluations(_ object: [String: ClaimValue], requestID: String?, runtime: PolicyRuntime) async throws(AuthZENError) -> [UInt8] {
        let items: [ClaimValue]
        switch object["evaluations"] {
        case nil, .null?: items = []
        case let .array(array)?: items = array
        default: throw AuthZENError("evaluations must be an array")
        }
        if items.isEmpty {
            return decisionJSON(await evaluate(try Evaluation(object, defaults: nil), requestID: requestID, runtime: runtime))
        }
        guard items.count <= settings.body.maxBatch else {
            throw AuthZENError("evaluations has \(items.count) entries; at most \(settings.body.maxBatch) are taken")
        }
        var semantic = "execute_all"
        if case let .object(options)? = object["options"], let value = options["evaluations_semantic"] {
            guard case let .string(text) = value, ["execute_all", "deny_on_first_deny", "permit_on_first_permit"].contains(text) else {
                throw AuthZENError("options.evaluations_semantic must be execute_all, deny_on_first_deny or permit_on_first_permit")
            }
            semantic = text
        }
        // Every entry is read before any is decided: a malformed one fails the whole request.
        var parsed: [Evaluation] = []
        for (index, item) in items.enumerated() {
            guard case let .object(fields) = item else { throw AuthZENError("evaluations[\(index)] is not an object") }
            do throws(AuthZENError) {
                parsed.append(try Evaluation(fields, defaults: object))
            } catch {
                throw AuthZENError("evaluations[\(index)]: \(error.message)")
            }
        }
        var decisions: [[UInt8]] = []
        for evaluation in parsed {
            let decided = await evaluate(evaluation, requestID: requestID, runtime: runtime)
            decisions.append(decisionJSON(decided))
            if semantic == "deny_on_first_deny", !decided.allowed { break }
            if semantic == "permit_on_first_permit", decided.allowed { break }
        }
        var json = JSONWriter()
        json.rawArray("evaluations", decisions)
        return json.finish()
    }

    /// One decision as the API gives it: `decision`, and in `context` why.
    private func decisionJSON(_ decided: Decided) -> [UInt8] {
        var json = JSONWriter()
        json.field("decision", decided.allowed)
        json.object("context") { context in
            // Absent rather than null, as the API recommends.
            context.field("reason", decided.reason)
            context.field("status", decided.status)
            if let rule = decided.outcome?.rule { context.field("rule", rule) }
            if let server = decided.outcome?.serverID { context.field("server", server) }
            if let outcome = decided.outcome, !outcome.requiredScopes.isEmpty { context.field("required_scopes", outcome.requiredScopes) }
            if let limit = decided.outcome?.limit {
                context.field("limit", limit.limit)
                context.field("retry_after", limit.retryAfter)
            }
            if let id = decided.outcome?.decisionID { context.field("decision_id", id) }
            if let detail = decided.problem { context.field("message", detail) }
        }
        return json.finish()
    }

    /// What one evaluation came to: a decision by the sidecar (audited), or a request that could
    /// not be mapped onto an MCP operation (denied, not decided).
    struct Decided {
        var outcome: AuthzOutcome?
        var problem: String?
        var mappingReason: String?

        var allowed: Bool { outcome?.allowed ?? false }
        var reason: String { outcome?.reason ?? mappingReason ?? "request_invalid" }
        var status: Int { outcome?.status ?? 400 }
    }

    private func evaluate(_ evaluation: Evaluation, requestID: String?, runtime: PolicyRuntime) async -> Decided {
        let message: MCPMessage
        do throws(AuthZENError) {
            message = try evaluation.message()
        } catch {
            return Decided(problem: error.message, mappingReason: "request_invalid")
        }
        switch question(evaluation, messages: [message], limited: true, runtime: runtime) {
        case let .failure(refusal): return Decided(problem: refusal.message, mappingReason: refusal.reason)
        case let .success(question): return Decided(outcome: await decide(question, requestID: requestID))
        }
    }

    /// Decides, logs and audits one question.
    private func decide(_ question: AuthzQuestion, requestID: String?) async -> AuthzOutcome {
        await authorizer.decideRecorded(question, endpoint: "authzen", path: "authzen", requestID: requestID, logger: logger)
    }

    /// Why a question could not be put.
    struct Refusal: Error {
        var reason: String
        var message: String
    }

    /// The question an evaluation puts: for the server it names (resource `properties.server`,
    /// an `mcp_server` resource's id, else the token's audience) and its caller (`context.token`,
    /// verified as on `/auth`, whose subject must be `subject.id`; else `subject.properties` taken
    /// as given, only with `--authzen-trust-subject-properties`). `messages` nil asks about the
    /// caller alone (a search).
    private func question(
        _ evaluation: Evaluation, messages: [MCPMessage]?, limited: Bool, runtime: PolicyRuntime
    ) -> Result<AuthzQuestion, Refusal> {
        let token = evaluation.context["token"]?.stringValue
        let serverID = Self.serverID(evaluation, token: token, runtime: runtime)
        if let token {
            // The enforcement point sends the token alone: a DPoP proof, if any, was its to check.
            var question = AuthzQuestion(
                runtime: runtime, serverID: serverID,
                token: { _ throws(TokenFailure) in PresentedToken(token: try BearerTokenExtractor.checked(token)) },
                messages: { _ in messages }, clientIP: evaluation.context["client_ip"]?.stringValue, limited: limited, checksProof: false
            )
            question.expectedSubject = evaluation.subject.id
            return .success(question)
        }
        var question = AuthzQuestion(
            runtime: runtime, serverID: serverID,
            token: { _ throws(TokenFailure) in
                throw TokenFailure(.tokenMissing, "no context.token, and subject properties are not trusted (--authzen-trust-subject-properties)")
            },
            messages: { _ in messages }, clientIP: evaluation.context["client_ip"]?.stringValue, limited: limited, checksProof: false
        )
        if settings.authzenTrustSubjectProperties, let serverID, let server = runtime.snapshot.servers[serverID]?.config {
            var claims = evaluation.subject.properties
            if claims["sub"] == nil, let id = evaluation.subject.id { claims["sub"] = .string(id) }
            let accepted = server.issuers.compactMap { runtime.snapshot.issuers[$0.value] }
            let issuer: IssuerConfig
            if let iss = claims["iss"]?.stringValue {
                guard let named = accepted.first(where: { $0.issuer.value == iss }) else {
                    return .failure(
                        Refusal(reason: "issuer_untrusted", message: "subject.properties.iss is not an issuer server '\(serverID)' accepts"))
                }
                issuer = named
            } else {
                guard accepted.count == 1, let only = accepted.first else {
                    return .failure(
                        Refusal(reason: "issuer_untrusted", message: "server '\(serverID)' accepts several issuers: give subject.properties.iss"))
                }
                issuer = only
                claims["iss"] = .string(only.issuer.value)
            }
            question.trustedCaller = Identity(claims: claims, issuer: issuer)
        }
        return .success(question)
    }

    /// The server an evaluation is about, or nil (then decided `unknown_server`).
    static func serverID(_ evaluation: Evaluation, token: String?, runtime: PolicyRuntime) -> String? {
        let servers = runtime.snapshot.servers.values.map(\.config).sorted { $0.id.value < $1.id.value }
        if let named = evaluation.resource.properties["server"] {
            guard let name = named.stringValue, runtime.snapshot.servers[name] != nil else { return nil }
            return name
        }
        func named(_ identifier: String) -> String? {
            servers.first { server in
                server.id.value == identifier || server.resource?.value == identifier || server.audiences.contains { $0.value == identifier }
            }?.id.value
        }
        if evaluation.resource.type == "mcp_server", let id = evaluation.resource.id, let found = named(id) { return found }
        if let token {
            for audience in TokenVerifier.unverifiedAudiences(token) {
                if let found = named(audience) { return found }
            }
        }
        return servers.count == 1 ? servers.first?.id.value : nil
    }

    // MARK: Searches

    /// `search/resource`: the tools, prompts or resources of the server the subject may use
    /// (`tools/call`, `prompts/get`, `resources/read`), from its catalog and the names its rules
    /// give exactly, as `/v1/filter` decides them (any call to the name could be allowed).
    private func searchResources(_ object: [String: ClaimValue], requestID: String?, runtime: PolicyRuntime) async throws(AuthZENError)
        -> [UInt8]
    {
        let evaluation = try Evaluation(object, defaults: nil, resourceIDRequired: false)
        guard let kind = TargetKind(rawValue: evaluation.resource.type) else {
            throw AuthZENError("resource.type must be tool, prompt or resource to search (found '\(evaluation.resource.type)')")
        }
        guard evaluation.action == kind.callMethod else {
            throw AuthZENError("a search for \(kind.rawValue) resources asks about action \(kind.callMethod), not \(evaluation.action ?? "none")")
        }
        let page = try Page(object)
        let (outcome, refusal) = await searcher(evaluation, requestID: requestID, runtime: runtime)
        var names: [String] = []
        if let outcome, outcome.allowed, let serverID = outcome.serverID, let identity = outcome.identity,
            let server = runtime.snapshot.servers[serverID]?.config
        {
            names = server.knownNames(kind).filter { name in
                runtime.snapshot.decide(
                    DecisionInput(
                        serverID: serverID, identity: identity, operation: MCPOperation(method: kind.callMethod, name: name, arguments: .any))
                ).isAllowed
            }
        }
        return page.answer(total: names.count, outcome: outcome, refusal: refusal) { range in
            names[range].map { name in
                var json = JSONWriter()
                json.field("type", kind.rawValue)
                json.field("id", name)
                return json.finish()
            }
        }
    }

    /// A search's caller, decided (and audited) once: the outcome, or why no question could be put.
    private func searcher(_ evaluation: Evaluation, requestID: String?, runtime: PolicyRuntime) async -> (AuthzOutcome?, Refusal?) {
        switch question(evaluation, messages: nil, limited: false, runtime: runtime) {
        case let .failure(refusal): return (nil, refusal)
        case let .success(question): return (await decide(question, requestID: requestID), nil)
        }
    }

    /// Methods a client may call on the server as a whole (`mcp_server` resources).
    static let serverMethods = MCPMethod.known.filter { method in
        MCPMethod.targetKind(of: method) == nil && !method.hasPrefix("notifications/") && method != "completion/complete"
            && !["roots/list", "sampling/createMessage", "elicitation/create"].contains(method)
    }.sorted()

    /// `search/action`: the MCP methods the subject may call on the resource.
    private func searchActions(_ object: [String: ClaimValue], requestID: String?, runtime: PolicyRuntime) async throws(AuthZENError)
        -> [UInt8]
    {
        let evaluation = try Evaluation(object, defaults: nil, actionRequired: false)
        let kind = TargetKind(rawValue: evaluation.resource.type)
        let candidates: [String]
        switch kind {
        case .tool?: candidates = ["tools/call"]
        case .prompt?: candidates = ["prompts/get"]
        case .resource?: candidates = ["resources/read", "resources/subscribe", "resources/unsubscribe"]
        case nil:
            guard evaluation.resource.type == "mcp_server" else {
                throw AuthZENError("resource.type must be tool, prompt, resource or mcp_server (found '\(evaluation.resource.type)')")
            }
            candidates = Self.serverMethods
        }
        guard kind == nil || evaluation.resource.id != nil else { throw AuthZENError("resource.id is required") }
        let page = try Page(object)
        let (outcome, refusal) = await searcher(evaluation, requestID: requestID, runtime: runtime)
        var methods: [String] = []
        if let outcome, outcome.allowed, let serverID = outcome.serverID, let identity = outcome.identity {
            let arguments = evaluation.arguments ?? .any
            methods = candidates.filter { method in
                let operation =
                    kind == nil
                    ? MCPOperation(method: method, target: nil) : MCPOperation(method: method, name: evaluation.resource.id, arguments: arguments)
                return runtime.snapshot.decide(DecisionInput(serverID: serverID, identity: identity, operation: operation)).isAllowed
            }
        }
        return page.answer(total: methods.count, outcome: outcome, refusal: refusal) { range in
            methods[range].map { method in
                var json = JSONWriter()
                json.field("name", method)
                return json.finish()
            }
        }
    }
}

/// A request the API cannot take: answered 400 with the message.
struct AuthZENError: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

/// One evaluation's subject, action, resource and context, defaults applied.
struct Evaluation {
    struct Entity {
        var type: String
        var id: String?
        var properties: [String: ClaimValue]
    }

    var subject: Entity
    var action: String?
    var resource: Entity
    var context: [String: ClaimValue]

    /// Reads an evaluation; `defaults` (the request's top level) fill in what an entry of
    /// `evaluations` omits. Unknown members are ignored, as the API requires.
    init(
        _ fields: [String: ClaimValue], defaults: [String: ClaimValue]?, resourceIDRequired: Bool = true, actionRequired: Bool = true
    ) throws(AuthZENError) {
        func member(_ name: String) -> ClaimValue? { fields[name] ?? defaults?[name] }
        func object(_ name: String, required: Bool) throws(AuthZENError) -> [String: ClaimValue]? {
            switch member(name) {
            case nil, .null?:
                if required { throw AuthZENError("\(name) is required") }
                return nil
            case let .object(object)?: return object
            default: throw AuthZENError("\(name) must be an object")
            }
        }
        func entity(_ name: String, idRequired: Bool) throws(AuthZENError) -> Entity {
            let object = try object(name, required: true) ?? [:]
            guard case let .string(type)? = object["type"], !type.isEmpty else { throw AuthZENError("\(name).type must be a string") }
            var id: String?
            switch object["id"] {
            case let .string(value)?: id = value
            case nil, .null?: if idRequired { throw AuthZENError("\(name).id must be a string") }
            default: throw AuthZENError("\(name).id must be a string")
            }
            var properties: [String: ClaimValue] = [:]
            switch object["properties"] {
            case nil, .null?: break
            case let .object(value)?: properties = value
            default: throw AuthZENError("\(name).properties must be an object")
            }
            return Entity(type: type, id: id, properties: properties)
        }
        subject = try entity("subject", idRequired: true)
        resource = try entity("resource", idRequired: resourceIDRequired)
        if let action = try object("action", required: actionRequired) {
            guard case let .string(name)? = action["name"], !name.isEmpty else { throw AuthZENError("action.name must be a string") }
            self.action = name
        }
        context = try object("context", required: false) ?? [:]
    }

    /// `resource.properties.arguments`: the call's arguments, for argument conditions.
    var arguments: MCPArguments? {
        guard case let .object(arguments)? = resource.properties["arguments"] else { return nil }
        return .known(arguments)
    }

    /// The MCP request this evaluation asks about, by the COAZ-MCP default mappings: a tool,
    /// prompt or resource names the target of the method; `mcp_server` (or `task`) a method
    /// that names none.
    func message() throws(AuthZENError) -> MCPMessage {
        guard let method = action else { throw AuthZENError("action.name is required") }
        var params: [String: ClaimValue] = [:]
        let expected = MCPMethod.targetKind(of: method)
        switch resource.type {
        case "tool", "prompt", "resource":
            guard let kind = TargetKind(rawValue: resource.type), expected == kind, let id = resource.id else {
                throw AuthZENError("action \(method) does not act on a \(resource.type)")
            }
            params[kind == .resource ? "uri" : "name"] = .string(id)
            if case let .object(arguments)? = resource.properties["arguments"] { params["arguments"] = .object(arguments) }
        case "mcp_server", "task":
            guard expected == nil, method != "completion/complete" else { throw AuthZENError("action \(method) names a target: give its resource") }
            if resource.type == "task", let id = resource.id { params["taskId"] = .string(id) }
        default:
            throw AuthZENError("resource.type '\(resource.type)' is none of tool, prompt, resource, mcp_server, task")
        }
        do throws(RequestRejection) {
            return try MCPRequestBody.question(method: method, params: params)
        } catch {
            throw AuthZENError(error.message)
        }
    }
}

/// A search's page: where it starts (from the previous answer's opaque token) and how many
/// results it holds. A token is bound to the request it came from: a changed request is refused.
struct Page {
    var offset: Int
    var limit: Int
    var fingerprint: String

    init(_ object: [String: ClaimValue]) throws(AuthZENError) {
        var page: [String: ClaimValue] = [:]
        switch object["page"] {
        case nil, .null?: break
        case let .object(value)?: page = value
        default: throw AuthZENError("page must be an object")
        }
        switch page["limit"] {
        case nil, .null?: limit = AuthZENEndpoint.maxPageSize
        case let .integer(value)? where (0...Int64(AuthZENEndpoint.maxPageSize)).contains(value): limit = Int(value)
        default: throw AuthZENError("page.limit must be a whole number from 0 to \(AuthZENEndpoint.maxPageSize)")
        }
        var asked = object
        asked["page"] = nil
        let digest = SHA256.hash(data: Array((ClaimValue.object(asked).jsonText + "|\(limit)").utf8))
        fingerprint = AuditLine.hex(digest.prefix(12))
        offset = 0
        if case let .string(token)? = page["token"], !token.isEmpty {
            let parts = (Data(base64Encoded: token).map { String(decoding: $0, as: UTF8.self) } ?? "").split(separator: ".")
            guard parts.count == 2, parts[1] == fingerprint, let start = Int(parts[0]), start >= 0 else {
                throw AuthZENError("page.token is not from an earlier page of this same request")
            }
            offset = start
        }
    }

    /// The search answer: `page` first, then `context`, then `results` (rendered by `render`).
    func answer(total: Int, outcome: AuthzOutcome?, refusal: AuthZENEndpoint.Refusal?, render: (Range<Int>) -> [[UInt8]]) -> [UInt8] {
        let range = min(offset, total)..<min(offset + limit, total)
        let next = range.upperBound < total ? Data("\(range.upperBound).\(fingerprint)".utf8).base64EncodedString() : ""
        var json = JSONWriter()
        json.object("page") { page in
            page.field("next_token", next)
            page.field("count", range.count)
            page.field("total", total)
        }
        json.object("context") { context in
            if let outcome {
                context.field("decision_id", outcome.decisionID)
                if !outcome.allowed {
                    context.field("reason", outcome.reason)
                    context.field("status", outcome.status)
                }
            } else if let refusal {
                context.field("reason", refusal.reason)
                context.field("message", refusal.message)
            }
        }
        json.rawArray("results", render(range))
        return json.finish()
    }
}
