import MCPAuthzPolicy

/// What one JSON-RPC message in an MCP request body asks for.
package enum MCPMessage: Sendable, Hashable {
    /// A request or notification: decided by the policy.
    case call(MCPOperation)
    /// The client's answer to a request the server sent (no `method`): it acts on nothing the
    /// policy names, so it is decided on identity and server alone.
    case response
}

/// Bounds on a JSON-RPC body read for a decision.
package struct MCPBodyLimits: Sendable {
    /// Largest body read; a larger one is refused, not truncated.
    package var maxBytes = 1024 * 1024
    /// Deepest nesting of arrays and objects (tool arguments included).
    package var maxDepth = 64
    /// Most messages in one batch.
    package var maxBatch = 100

    package init() {}
}

/// Reads the MCP operations out of a JSON-RPC request body: one message or a batch.
package enum MCPRequestBody {
    package static func messages(_ bytes: some Collection<UInt8>, limits: MCPBodyLimits) throws(RequestRejection) -> [MCPMessage] {
        guard bytes.count <= limits.maxBytes else {
            throw RequestRejection(.bodyTooLarge, "body of \(bytes.count) bytes exceeds \(limits.maxBytes)")
        }
        let root: ClaimValue
        do {
            root = try ClaimValue.parseJSON(bytes, maxDepth: limits.maxDepth)
        } catch {
            throw RequestRejection(.bodyInvalid, "body is not JSON: \(error.message)")
        }
        switch root {
        case let .array(elements):
            guard !elements.isEmpty else { throw RequestRejection(.bodyInvalid, "empty JSON-RPC batch") }
            guard elements.count <= limits.maxBatch else {
                throw RequestRejection(.batchTooLarge, "batch of \(elements.count) messages exceeds \(limits.maxBatch)")
            }
            var messages: [MCPMessage] = []
            messages.reserveCapacity(elements.count)
            for (index, element) in elements.enumerated() {
                do {
                    messages.append(try message(element))
                } catch {
                    throw RequestRejection(error.reason, "batch element \(index): \(error.message)")
                }
            }
            return messages
        default:
            return [try message(root)]
        }
    }

    /// A request asked about by its method and params (the decision APIs), read as a forwarded
    /// body is, so every path decides alike. Arguments not given are unknown, never empty:
    /// conditions on them fail closed.
    static func question(method: String, params: [String: ClaimValue]) throws(RequestRejection) -> MCPMessage {
        let request = ClaimValue.object(["jsonrpc": .string("2.0"), "id": .integer(1), "method": .string(method), "params": .object(params)])
        var message = try message(request)
        if params["arguments"] == nil, case var .call(operation) = message {
            operation.arguments = .unavailable
            message = .call(operation)
        }
        return message
    }

    /// One JSON-RPC 2.0 message.
    static func message(_ value: ClaimValue) throws(RequestRejection) -> MCPMessage {
        guard case let .object(object) = value else { throw RequestRejection(.bodyInvalid, "JSON-RPC message is not an object") }
        guard object["jsonrpc"] == .string("2.0") else { throw RequestRejection(.bodyInvalid, "jsonrpc is not \"2.0\"") }
        guard let methodValue = object["method"] else {
            guard object["id"] != nil, object["result"] != nil || object["error"] != nil else {
                throw RequestRejection(.bodyInvalid, "message has neither a method nor a result or error")
            }
            return .response
        }
        guard case let .string(method) = methodValue, !method.isEmpty else {
            throw RequestRejection(.bodyInvalid, "method is not a non-empty string")
        }
        let params: [String: ClaimValue]
        switch object["params"] {
        case nil, .null?: params = [:]
        case let .object(fields)?: params = fields
        default: throw RequestRejection(.bodyInvalid, "params of \(method) is not an object")
        }
        let arguments = try self.arguments(params, of: method)
        if method == "completion/complete" {
            return .call(MCPOperation(method: method, target: try completionTarget(params), arguments: arguments))
        }
        guard let kind = MCPMethod.targetKind(of: method) else { return .call(MCPOperation(method: method, arguments: arguments)) }
        let field = kind == .resource ? "uri" : "name"
        guard case let .string(name)? = params[field] else {
            throw RequestRejection(.bodyInvalid, "\(method) without a string params.\(field)")
        }
        return .call(MCPOperation(method: method, name: name, arguments: arguments))
    }

    /// `params.arguments` as the body gives it: known, and empty when the message has none.
    private static func arguments(_ params: [String: ClaimValue], of method: String) throws(RequestRejection) -> MCPArguments {
        switch params["arguments"] {
        case nil, .null?: return .known([:])
        case let .object(arguments)?: return .known(arguments)
        default: throw RequestRejection(.bodyInvalid, "params.arguments of \(method) is not an object")
        }
    }

    /// `completion/complete` names a prompt or a resource template in `params.ref`.
    private static func completionTarget(_ params: [String: ClaimValue]) throws(RequestRejection) -> MCPOperation.Target {
        guard case let .object(ref)? = params["ref"] else {
            throw RequestRejection(.bodyInvalid, "completion/complete without params.ref")
        }
        switch (ref["type"], ref["name"], ref["uri"]) {
        case let (.string("ref/prompt")?, .string(name)?, _):
            return MCPOperation.Target(kind: .prompt, name: name)
        case let (.string("ref/resource")?, _, .string(uri)?):
            return MCPOperation.Target(kind: .resource, name: uri)
        default:
            throw RequestRejection(.bodyInvalid, "completion/complete params.ref is neither a prompt nor a resource reference")
        }
    }
}
