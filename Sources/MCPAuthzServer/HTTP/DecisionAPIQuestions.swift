import MCPAuthzPolicy
import MCPAuthzTokens

/// Why a decision API request could not be read: sent back with a 400.
struct DecisionAPIError: Error, Sendable {
    var message: String

    init(_ message: String) {
        self.message = message
    }
}

/// Reads a JSON object of known fields; any other field is an error, so a typo (`tool` for
/// `name`) is reported instead of silently deciding something else.
private struct QuestionFields {
    let fields: [String: ClaimValue]

    init(_ body: [UInt8], allowed: Set<String>) throws(DecisionAPIError) {
        let root: ClaimValue
        do {
            root = try ClaimValue.parseJSON(body)
        } catch {
            throw DecisionAPIError("body is not JSON: \(error.description)")
        }
        guard case let .object(fields) = root else { throw DecisionAPIError("body is not a JSON object") }
        try self.init(fields, allowed: allowed)
    }

    init(_ fields: [String: ClaimValue], allowed: Set<String>) throws(DecisionAPIError) {
        if let unknown = fields.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw DecisionAPIError("unknown field '\(unknown)'; fields are \(allowed.sorted().joined(separator: ", "))")
        }
        self.fields = fields
    }

    func string(_ name: String, required: Bool = false) throws(DecisionAPIError) -> String? {
        switch fields[name] {
        case nil, .null?:
            if required { throw DecisionAPIError("'\(name)' is required") }
            return nil
        case let .string(value)?: return value
        default: throw DecisionAPIError("'\(name)' must be a string")
        }
    }

    func strings(_ name: String, max: Int) throws(DecisionAPIError) -> [String]? {
        switch fields[name] {
        case nil, .null?: return nil
        case let .array(values)?:
            guard values.count <= max else { throw DecisionAPIError("'\(name)' has more than \(max) names") }
            var names: [String] = []
            for value in values {
                guard case let .string(name) = value else { throw DecisionAPIError("'\(name)' must be an array of strings") }
                names.append(name)
            }
            return names
        default: throw DecisionAPIError("'\(name)' must be an array of strings")
        }
    }
}

/// The token of a decision API question, as the request's `Authorization` would carry it.
private func checkedToken(_ token: String?) throws(TokenFailure) -> String {
    guard let token, !token.isEmpty else { throw TokenFailure(.tokenMissing, "no token in the question") }
    let bare = token.hasPrefix("Bearer ") ? String(token.dropFirst(7)) : token
    return try BearerTokenExtractor.checked(bare)
}

/// `POST /v1/decide`: `{server, token, method, name?, arguments?, params?, client_ip?, dpop?}`. Arguments not given
/// (neither `arguments` nor `params.arguments`) are unknown, not empty: a condition on them
/// cannot be evaluated, and fails closed.
struct DecideQuestion: Sendable {
    var server: String
    var token: String?
    var message: MCPMessage
    /// The caller's address, for limits keyed by `client_ip`.
    var clientIP: String?
    /// `dpop: {proof, http_method, http_url}`: the client's DPoP proof and the request it made,
    /// as the MCP server received them; the token is then taken as sent with `Authorization: DPoP`.
    var dpop: (proof: String, request: DPoPRequest)?

    init(_ body: [UInt8]) throws(DecisionAPIError) {
        let fields = try QuestionFields(body, allowed: ["server", "token", "method", "name", "arguments", "params", "client_ip", "dpop"])
        server = try fields.string("server", required: true) ?? ""
        token = try fields.string("token")
        switch fields.fields["dpop"] {
        case nil, .null?: break
        case let .object(object)?:
            let dpop = try QuestionFields(object, allowed: ["proof", "http_method", "http_url"])
            let proof = try dpop.string("proof", required: true) ?? ""
            let method = try dpop.string("http_method", required: true) ?? ""
            let url = try dpop.string("http_url", required: true) ?? ""
            self.dpop = (proof, DPoPRequest(method: method.uppercased(), url: url))
        default: throw DecisionAPIError("'dpop' must be an object {proof, http_method, http_url}")
        }
        clientIP = try fields.string("client_ip").flatMap { ForwardAuthEndpoint.clientIP([$0]) }
        let method = try fields.string("method", required: true) ?? ""
        let name = try fields.string("name")
        var params: [String: ClaimValue] = [:]
        switch fields.fields["params"] {
        case nil, .null?: break
        case let .object(object)?: params = object
        default: throw DecisionAPIError("'params' must be an object")
        }
        if let name {
            params[MCPMethod.targetKind(of: method) == .resource ? "uri" : "name"] = .string(name)
        }
        switch fields.fields["arguments"] {
        case nil, .null?: break
        case let .object(arguments)?: params["arguments"] = .object(arguments)
        default: throw DecisionAPIError("'arguments' must be an object")
        }
        do throws(RequestRejection) {
            message = try MCPRequestBody.question(method: method, params: params)
        } catch {
            throw DecisionAPIError(error.message)
        }
    }

    func bearerToken() throws(TokenFailure) -> String { try checkedToken(token) }

    /// The token as the client presented it: with `dpop`, under the DPoP scheme with its proof.
    func presentedToken() throws(TokenFailure) -> PresentedToken {
        let token = try checkedToken(token)
        guard let dpop else { return PresentedToken(token: token) }
        return PresentedToken(token: token, scheme: .dpop, proofs: [dpop.proof], request: dpop.request)
    }
}

/// `POST /v1/filter`: `{server, token, tools?, prompts?, resources?}`. `tools` may hold full
/// tool definitions (a `tools/list` answer's entries) instead of names: their definitions are
/// then checked against a pinning server's catalog.
struct FilterQuestion: Sendable {
    var server: String
    var token: String?
    var lists: [(TargetKind, [String])]
    /// Tool name to the hash of the definition given for it.
    var definitions: [String: String] = [:]

    init(_ body: [UInt8], maxNames: Int) throws(DecisionAPIError) {
        let fields = try QuestionFields(body, allowed: ["server", "token", "tools", "prompts", "resources"])
        server = try fields.string("server", required: true) ?? ""
        token = try fields.string("token")
        lists = []
        if case let .array(entries)? = fields.fields["tools"], entries.contains(where: { if case .object = $0 { true } else { false } }) {
            guard entries.count <= maxNames else { throw DecisionAPIError("'tools' has more than \(maxNames) names") }
            var names: [String] = []
            for entry in entries {
                switch entry {
                case let .string(name): names.append(name)
                case let .object(definition):
                    guard case let .string(name)? = definition["name"] else { throw DecisionAPIError("a tool definition in 'tools' has no name") }
                    names.append(name)
                    definitions[name] = CatalogTool.hash(definition)
                default: throw DecisionAPIError("'tools' must hold names or tool definitions")
                }
            }
            lists.append((.tool, names))
        } else if let names = try fields.strings("tools", max: maxNames) {
            lists.append((.tool, names))
        }
        for kind in [TargetKind.prompt, .resource] {
            if let names = try fields.strings(Self.key(for: kind), max: maxNames) { lists.append((kind, names)) }
        }
        guard !lists.isEmpty else { throw DecisionAPIError("give at least one of tools, prompts, resources") }
    }

    func bearerToken() throws(TokenFailure) -> String { try checkedToken(token) }

    static func key(for kind: TargetKind) -> String {
        switch kind {
        case .tool: "tools"
        case .prompt: "prompts"
        case .resource: "resources"
        }
    }

    /// The method whose decision says a name may be used.
    static func method(for kind: TargetKind) -> String {
        switch kind {
        case .tool: "tools/call"
        case .prompt: "prompts/get"
        case .resource: "resources/read"
        }
    }
}
