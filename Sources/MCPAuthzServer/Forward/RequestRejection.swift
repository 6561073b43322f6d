/// A request the sidecar cannot decide on as asked, with a stable reason code (the same code
/// goes to the answer, the metrics and the audit log) and a sentence for the log.
package struct RequestRejection: Error, Sendable, Equatable, CustomStringConvertible {
    package enum Reason: String, Sendable, CaseIterable {
        /// The proxy did not say which request it is asking about (no original method or URI),
        /// said it twice, or gave a path that is not canonical.
        case forwardRequestInvalid = "forward_request_invalid"
        /// The HTTP method is not one MCP's Streamable HTTP transport uses (POST, GET, DELETE).
        case httpMethodNotAllowed = "http_method_not_allowed"
        /// The body is larger than the configured bound.
        case bodyTooLarge = "body_too_large"
        /// The body is not a JSON-RPC message or batch MCP could send.
        case bodyInvalid = "body_invalid"
        /// A batch has more messages than the configured bound.
        case batchTooLarge = "batch_too_large"
        /// `Mcp-Method` or `Mcp-Name` disagrees with the body.
        case headerMismatch = "header_mismatch"
        /// Neither the body nor headers the sidecar may trust say what the request does.
        case operationUnverified = "operation_unverified"
        /// The server pins its tool definitions (`pin_definitions`), and the tool called was
        /// last listed with a definition other than the catalog's, or is not in the catalog.
        case toolDefinitionChanged = "tool_definition_changed"
        /// The request's `Origin` is not one of the server's `allowed_origins` (DNS rebinding).
        case originNotAllowed = "origin_not_allowed"
    }

    package var reason: Reason
    package var message: String

    package init(_ reason: Reason, _ message: String) {
        self.reason = reason
        self.message = message
    }

    package var description: String { "\(reason.rawValue): \(message)" }
}
