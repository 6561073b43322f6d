import ArgumentParser
import Foundation
import MCPAuthzPolicy

/// Options every command that reads policy files shares.
struct PolicyOptions: ParsableArguments {
    @Option(name: .customLong("max-policy-bytes"), help: "Largest policy or test file accepted, in bytes.")
    var maxPolicyBytes: Int = PolicyLoadLimits.default.maxFileBytes

    var limits: PolicyLoadLimits {
        PolicyLoadLimits(maxFileBytes: maxPolicyBytes)
    }

    func validate() throws {
        guard maxPolicyBytes > 0 else { throw ValidationError("--max-policy-bytes must be positive") }
    }
}

/// Diagnostics go to standard error, one per line, as compilers print them.
func report(_ diagnostics: [PolicyDiagnostic]) {
    for diagnostic in diagnostics { printError(diagnostic.description) }
}

func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
