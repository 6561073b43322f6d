import ArgumentParser
import MCPAuthzPolicy

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check policy files and report every problem as file:line:column.",
        discussion: "Exits 0 with a one-line summary when the policy is valid, 1 with the problems when it is not."
    )

    @Argument(help: "A policy file, or a folder of *.yaml policy files.")
    var path: String

    @Flag(help: "Treat warnings as errors.")
    var strict = false

    @OptionGroup var options: PolicyOptions

    func run() throws {
        let result: PolicyLoader.Result
        do {
            result = try PolicyLoader(limits: options.limits).load(path: path)
        } catch {
            report(error.diagnostics)
            printError("\(path): invalid: \(error.diagnostics.count) problem\(error.diagnostics.count == 1 ? "" : "s")")
            throw ExitCode(1)
        }
        report(result.warnings)
        let policy = result.policy
        if strict && !result.warnings.isEmpty {
            printError("\(path): invalid under --strict: \(result.warnings.count) warning\(result.warnings.count == 1 ? "" : "s")")
            throw ExitCode(1)
        }
        let warnings = result.warnings.isEmpty ? "" : ", \(result.warnings.count) warning\(result.warnings.count == 1 ? "" : "s")"
        print(
            "\(path): valid: \(policy.files.count) file\(policy.files.count == 1 ? "" : "s"), \(policy.issuers.count) issuers, \(policy.servers.count) servers, \(policy.ruleCount) rules\(warnings)"
        )
    }
}
