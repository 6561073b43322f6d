import ArgumentParser
import Foundation
import MCPAuthzPolicy

struct TestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Run policy test cases (*_test.yaml) against the policies beside them.",
        discussion: """
            PATH is a folder holding policies and their *_test.yaml files, or one test file (its \
            folder's policies are used). Prints each failing case with what differed and the \
            'mcp-authz explain' command that shows its decision, then 'N passed, M failed'. A test \
            file with a problem is reported and its cases skipped; the other files' cases still run. \
            Exits 1 when a case fails, a file is invalid, or no case is found.
            """
    )

    @Argument(help: "A folder of policies and *_test.yaml files, or one test file.")
    var path: String

    @Option(help: "Policy file or folder to test against, when not the test files' own folder.")
    var policies: String?

    @Flag(name: .shortAndLong, help: "List the passing cases too.")
    var verbose = false

    @Option(help: "Also write the results as JUnit XML to this file, for CI systems.")
    var junit: String?

    @OptionGroup var options: PolicyOptions

    func run() throws {
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        let policyPath = policies ?? (exists && !isDirectory.boolValue ? (path as NSString).deletingLastPathComponent : path)
        let snapshot: PolicySnapshot
        let runner = PolicyTestRunner(limits: options.limits)
        let loaded: PolicyTestRunner.Loaded
        do {
            snapshot = try PolicySnapshot.load(path: policyPath.isEmpty ? "." : policyPath, limits: options.limits).snapshot
            loaded = runner.load(try PolicyLoader.files(at: path, kind: .test))
        } catch {
            report(error.diagnostics)
            throw ExitCode(1)
        }
        report(loaded.problems)
        guard !loaded.cases.isEmpty || !loaded.problems.isEmpty else {
            printError("\(path): no policy test cases found (files named *_test.yaml with a 'cases' list)")
            throw ExitCode(1)
        }
        let result = runner.run(loaded.cases, against: snapshot)
        print(result.render(verbose: verbose) { Self.explainCommand(for: $0, policies: policyPath.isEmpty ? "." : policyPath) })
        if let junit {
            do {
                try JUnitReport(result, problems: loaded.problems).xml.write(toFile: junit, atomically: true, encoding: .utf8)
            } catch {
                printError("\(junit): cannot write the JUnit report")
                throw ExitCode(1)
            }
        }
        if result.failed > 0 || !loaded.problems.isEmpty { throw ExitCode(1) }
    }

    /// The `explain` command that shows a case's decision, rule by rule, its claims given on
    /// standard input.
    static func explainCommand(for testCase: PolicyTestCase, policies: String) -> String {
        var words = ["mcp-authz", "explain", shellQuoted(policies), "--server", shellQuoted(testCase.serverID)]
        words += ["--method", shellQuoted(testCase.operation.method)]
        if let target = testCase.operation.target { words += ["--name", shellQuoted(target.name)] }
        if let arguments = testCase.operation.arguments.body { words += ["--arguments", shellQuoted(ClaimValue.object(arguments).jsonText)] }
        if let issuer = testCase.issuerID { words += ["--issuer", shellQuoted(issuer)] }
        words += ["--claims", "-"]
        return "echo \(shellQuoted(ClaimValue.object(testCase.claims).jsonText)) | " + words.joined(separator: " ")
    }

    /// A single-quoted shell word (quotes inside closed, escaped and reopened).
    static func shellQuoted(_ word: String) -> String {
        if !word.isEmpty,
            word.unicodeScalars.allSatisfy({ "A"..."Z" ~= $0 || "a"..."z" ~= $0 || "0"..."9" ~= $0 || "/._-:".unicodeScalars.contains($0) })
        {
            return word
        }
        return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}

/// Policy test results as JUnit XML: one test case per policy test case (classname: its file),
/// a failure per case that failed, an error per test file that could not be read.
struct JUnitReport {
    let xml: String

    init(_ report: PolicyTestRunner.Report, problems: [PolicyDiagnostic]) {
        var cases: [String] = []
        for passed in report.passedCases {
            cases.append(#"    <testcase classname="\#(markupEscaped(passed.location.file))" name="\#(markupEscaped(passed.name))"/>"#)
        }
        for failure in report.failures {
            let message = failure.differences.joined(separator: "\n")
            cases.append(
                #"    <testcase classname="\#(markupEscaped(failure.location.file))" name="\#(markupEscaped(failure.name))">"#
                    + #"<failure message="\#(markupEscaped(failure.differences.first ?? "failed"))">\#(markupEscaped("\(failure.location)\n" + message))</failure></testcase>"#
            )
        }
        for problem in problems {
            cases.append(
                #"    <testcase classname="\#(markupEscaped(problem.location.file))" name="(test file)">"#
                    + #"<error message="\#(markupEscaped(problem.description))"/></testcase>"#
            )
        }
        let total = report.passed + report.failed + problems.count
        xml = """
            <?xml version="1.0" encoding="UTF-8"?>
            <testsuites>
              <testsuite name="mcp-authz policy tests" tests="\(total)" failures="\(report.failed)" errors="\(problems.count)">
            \(cases.joined(separator: "\n"))
              </testsuite>
            </testsuites>

            """
    }

}
