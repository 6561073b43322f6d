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

    /// Loads and compiles a policy; on a problem, prints its diagnostics and exits with `code`.
    func snapshot(at path: String, failing code: Int32) throws -> PolicySnapshot {
        do {
            return try PolicySnapshot.load(path: path, limits: limits).snapshot
        } catch {
            report(error.diagnostics)
            throw ExitCode(code)
        }
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

/// Text made safe inside XML or HTML text and double-quoted attributes (control characters
/// but tab become `?`).
func markupEscaped(_ text: String) -> String {
    var out = ""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "\n": out += "&#10;"
        case _ where scalar.value < 0x20 && scalar != "\t": out += "?"
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out
}
