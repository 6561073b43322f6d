/// One MCP operation: the JSON-RPC method and, where the method acts on one, what it names.
package struct MCPOperation: Sendable, Hashable, CustomStringConvertible {
    package var method: String
    /// The tool, prompt or resource named, with its kind.
    package var target: Target?

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
    package init(method: String, name: String? = nil) {
        self.method = method
        if let name, let kind = MCPMethod.targetKind(of: method) {
            target = Target(kind: kind, name: name)
        } else {
            target = nil
        }
    }

    /// An operation with an explicit target, as `completion/complete` has in `params.ref`.
    package init(method: String, target: Target?) {
        self.method = method
        self.target = target
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
