/// Runs policy test files against a compiled policy, as `mcp-authz test` does.
package struct PolicyTestRunner: Sendable {
    package var limits: PolicyLoadLimits

    package init(limits: PolicyLoadLimits = .default) {
        self.limits = limits
    }

    /// One case that did not give what it expected.
    package struct Failure: Sendable {
        package var name: String
        package var location: SourceLocation
        /// One line per differing field: `field: expected X, got Y`.
        package var differences: [String]
    }

    package struct Report: Sendable {
        package var passed = 0
        package var failures: [Failure] = []

        package var failed: Int { failures.count }

        /// Each failure with its differences, then the `N passed, M failed` line.
        package func render() -> String {
            var lines: [String] = []
            for failure in failures {
                lines.append("FAIL \(failure.location): \(failure.name)")
                lines += failure.differences.map { "    \($0)" }
            }
            lines.append("\(passed) passed, \(failed) failed")
            return lines.joined(separator: "\n")
        }
    }

    /// Reads the cases of the given test files; every problem in them is reported together.
    package func cases(in files: [String]) throws(PolicyLoadError) -> [PolicyTestCase] {
        var cases: [PolicyTestCase] = []
        var problems: [PolicyDiagnostic] = []
        let loader = PolicyLoader(limits: limits)
        for file in files {
            switch loader.readYAML(file: file) {
            case let .failure(error):
                problems += error.diagnostics
            case let .success(root):
                guard let root else {
                    problems.append(PolicyDiagnostic("test file is empty", at: SourceLocation(file: file, line: 1, column: 1)))
                    continue
                }
                var reader = YAMLNodeReader(file: file, maxNodes: limits.maxNodes)
                cases += reader.policyTestCases(root)
                problems += reader.diagnostics
            }
        }
        guard problems.isEmpty else { throw PolicyLoadError(PolicyLoader.sorted(problems)) }
        return cases
    }

    package func run(_ cases: [PolicyTestCase], against snapshot: PolicySnapshot) -> Report {
        var report = Report()
        for testCase in cases {
            let differences = Self.differences(testCase, snapshot)
            if differences.isEmpty {
                report.passed += 1
            } else {
                report.failures.append(Failure(name: testCase.name, location: testCase.location, differences: differences))
            }
        }
        return report
    }

    static func differences(_ testCase: PolicyTestCase, _ snapshot: PolicySnapshot) -> [String] {
        let issuer: IssuerConfig
        if let id = testCase.issuerID {
            guard let config = snapshot.issuers[id] else {
                return ["issuer: no issuer '\(id)' in the policy\(Suggestion.hint(for: id, in: snapshot.issuers.keys))"]
            }
            issuer = config
        } else {
            let iss = testCase.claims["iss"]?.stringValue
            guard let iss, let config = snapshot.issuersByURL[iss] else {
                return ["claims: iss \(iss.map { "'\($0)'" } ?? "is missing and") matches no issuer of the policy; set claims.iss or issuer"]
            }
            issuer = config
        }
        if snapshot.servers[testCase.serverID] == nil {
            return ["server: no server '\(testCase.serverID)' in the policy\(Suggestion.hint(for: testCase.serverID, in: snapshot.servers.keys))"]
        }
        let input = DecisionInput(
            serverID: testCase.serverID, identity: Identity(claims: testCase.claims, issuer: issuer), operation: testCase.operation
        )
        let got = snapshot.decide(input)
        let want = testCase.expected
        var differences: [String] = []
        func quoted(_ rule: String?) -> String { rule.map { "\"\($0)\"" } ?? "(none)" }
        if want.decision != got.effect {
            differences.append("decision: expected \(want.decision.rawValue), got \(got.effect.rawValue)")
        }
        if let status = want.status, status != got.status {
            differences.append("status: expected \(status), got \(got.status)")
        }
        if let reason = want.reason, reason != got.reason {
            differences.append("reason: expected \(reason.rawValue), got \(got.reason.rawValue)")
        }
        if let rule = want.rule, rule != got.rule {
            differences.append("rule: expected \(quoted(rule)), got \(quoted(got.rule))")
        }
        if let scopes = want.requiredScopes, scopes != got.requiredScopes {
            differences.append("required_scopes: expected [\(scopes.joined(separator: ", "))], got [\(got.requiredScopes.joined(separator: ", "))]")
        }
        if !differences.isEmpty {
            differences.append("(run: mcp-authz explain with this case's claims to see every rule considered)")
        }
        return differences
    }
}
