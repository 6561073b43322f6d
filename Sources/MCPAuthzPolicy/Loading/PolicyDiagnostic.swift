/// One problem found in a policy, pointing at the place to fix it.
package struct PolicyDiagnostic: Sendable, Hashable, CustomStringConvertible {
    package enum Severity: String, Sendable {
        case error
        case warning
    }

    package var location: SourceLocation
    package var message: String
    package var severity: Severity

    package init(_ message: String, at location: SourceLocation, severity: Severity = .error) {
        self.location = location
        self.message = message
        self.severity = severity
    }

    /// `file:line:column: message`, with `warning: ` before the message of a warning.
    package var description: String {
        switch severity {
        case .error: return "\(location): \(message)"
        case .warning: return "\(location): warning: \(message)"
        }
    }
}

/// A policy could not be loaded; every problem found is listed, in file order.
package struct PolicyLoadError: Error, Sendable, CustomStringConvertible {
    package var diagnostics: [PolicyDiagnostic]

    package init(_ diagnostics: [PolicyDiagnostic]) {
        self.diagnostics = diagnostics
    }

    package var description: String {
        diagnostics.map(\.description).joined(separator: "\n")
    }
}
