/// One MCP operation: the JSON-RPC method and, where the method acts on one, what it names.
package struct MCPOperation: Sendable, Hashable, CustomStringConvertible {
    package var method: String
    /// The tool, prompt or resource named, with its kind.
    package var target: Target?
    /// What is known of `params.arguments`.
    package var arguments: MCPArguments = .unavailable

    package struct Target: Sendable, Hashable {
        package var kind: TargetKind
        package var name: String

        package init(kind: TargetKind, name: String) {
            self.kind = kind
            self.name = name
        }
    }

    /// An operation whose target kind follows from the method (`tools/call` names a tool, ...).
    /// A name given with a method that names nothing is ignored.
    package init(method: String, name: String? = nil, arguments: MCPArguments = .unavailable) {
        self.method = method
        if let name, let kind = MCPMethod.targetKind(of: method) {
            target = Target(kind: kind, name: name)
        } else {
            target = nil
        }
        self.arguments = arguments
    }

    /// An operation with an explicit target, as `completion/complete` has in `params.ref`.
    package init(method: String, target: Target?, arguments: MCPArguments = .unavailable) {
        self.method = method
        self.target = target
        self.arguments = arguments
    }

    package var description: String {
        guard let target else { return method }
        return "\(method) \(target.kind.rawValue) '\(target.name)'"
    }
}

/// Everything a decision depends on. Time and network play no part: the token was verified
/// before this, and the policy snapshot is immutable.
package struct DecisionInput: Sendable {
    package var serverID: String
    package var identity: Identity
    package var operation: MCPOperation

    package init(serverID: String, identity: Identity, operation: MCPOperation) {
        self.serverID = serverID
        self.identity = identity
        self.operation = operation
    }
}

/// What a decision knows of a call's `params.arguments`: all of them when the body was read,
/// else only those headers carried (`Mcp-Param-*`), else nothing.
package struct MCPArguments: Sendable, Hashable {
    /// `params.arguments` from the body (empty when the message has none); nil when no body
    /// was read.
    package var body: [String: ClaimValue]?
    /// Values by argument path, from headers, when no body was read.
    package var headers: [String: ClaimValue]
    /// Whether these stand for whatever arguments a call could have: an unknown condition is
    /// then taken the way that lets the call through (an allow applies, a deny does not). For
    /// listing, where a tool is shown when some call to it could be allowed; never for a call.
    package var standForAny: Bool

    package init(body: [String: ClaimValue]?, headers: [String: ClaimValue] = [:], standForAny: Bool = false) {
        self.body = body
        self.headers = headers
        self.standForAny = standForAny
    }

    /// Nothing known: every argument condition is unknown.
    package static let unavailable = MCPArguments(body: nil)

    /// Any arguments at all, for "could some call to this be allowed?".
    package static let any = MCPArguments(body: nil, standForAny: true)

    /// The arguments of a read body.
    package static func known(_ arguments: [String: ClaimValue]) -> MCPArguments { MCPArguments(body: arguments) }

    package enum Lookup: Sendable, Equatable {
        case value(ClaimValue)
        /// The body was read and has no such argument.
        case absent
        /// Not in what was seen: the body was not read and no header carried it.
        case unknown
    }

    /// The value at an argument path (a literal key wins, then dots walk into objects, as for
    /// claims).
    package func lookup(_ path: String) -> Lookup {
        if let body { return ClaimValue.lookup(path, in: body).map(Lookup.value) ?? .absent }
        return headers[path].map(Lookup.value) ?? .unknown
    }
}
