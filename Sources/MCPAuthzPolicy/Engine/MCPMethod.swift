/// JSON-RPC methods of MCP, and which of them name a tool, prompt or resource.
package enum MCPMethod {
    /// Methods of every protocol revision up to 2026-07-28, client-to-server and notifications.
    package static let known: Set<String> = [
        "initialize", "ping", "server/discover", "subscriptions/listen",
        "tools/list", "tools/call", "prompts/list", "prompts/get",
        "resources/list", "resources/templates/list", "resources/read", "resources/subscribe", "resources/unsubscribe",
        "completion/complete", "logging/setLevel",
        "tasks/get", "tasks/result", "tasks/list", "tasks/cancel",
        "notifications/initialized", "notifications/cancelled", "notifications/progress",
        "notifications/roots/list_changed", "notifications/message", "notifications/tasks/status",
        "roots/list", "sampling/createMessage", "elicitation/create",
    ]

    /// What kind of thing a method acts on by name, if any.
    package static func targetKind(of method: String) -> TargetKind? {
        switch method {
        case "tools/call": return .tool
        case "prompts/get": return .prompt
        case "resources/read", "resources/subscribe", "resources/unsubscribe": return .resource
        default: return nil
        }
    }
}

/// The kinds of named thing a rule can allow or deny.
package enum TargetKind: String, Sendable, CaseIterable {
    /// The method that calls, gets or reads a target of this kind.
    package var callMethod: String {
        switch self {
        case .tool: "tools/call"
        case .prompt: "prompts/get"
        case .resource: "resources/read"
        }
    }

    case tool
    case prompt
    case resource
}
