import ArgumentParser
import Foundation
import MCPAuthzPolicy

struct TestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Run policy test cases (*_test.yaml) against the policies beside them.",
        discussion: """
            PATH is a folder holding policies and their *_test.yaml files, or one test file (its \
            folder's policies are used). Prints each failing case with what differed, then \
            'N passed, M failed'. Exits 1 when a case fails, a file is invalid, or no case is found.
            """
    )

    @Argument(help: "A folder of policies and *_test.yaml files, or one test file.")
    var path: String

    @Option(help: "Policy file or folder to test against, when not the test files' own folder.")
    var policies: String?

    @OptionGroup var options: PolicyOptions

    func run() throws {
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        let policyPath = policies ?? (exists && !isDirectory.boolValue ? (path as NSString).deletingLastPathComponent : path)
        let snapshot: PolicySnapshot
        let runner = PolicyTestRunner(limits: options.limits)
        let cases: [PolicyTestCase]
        do {
            snapshot = try PolicySnapshot.load(path: policyPath.isEmpty ? "." : policyPath, limits: options.limits).snapshot
            cases = try runner.cases(in: PolicyLoader.files(at: path, kind: .test))
        } catch {
            report(error.diagnostics)
            throw ExitCode(1)
        }
        guard !cases.isEmpty else {
            printError("\(path): no policy test cases found (files named *_test.yaml with a 'cases' list)")
            throw ExitCode(1)
        }
        let result = runner.run(cases, against: snapshot)
        print(result.render())
        if result.failed > 0 { throw ExitCode(1) }
    }
}
