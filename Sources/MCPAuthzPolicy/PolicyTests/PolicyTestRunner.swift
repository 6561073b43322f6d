/// Runs policy test files against a compiled policy, as `mcp-authz test` does.
package struct PolicyTestRunner: Sendable {
    package var limits: PolicyLoadLimits

    package init(limits: PolicyLoadLimits = .default) {
        self.limits = limits
    }

    /// One case that did not give what it expected.
    package struct Failure: Sendable {
        package var testCase: PolicyTestCase
        /// One line per differing field: `field: expected X, got Y`.
        package var differences: [String]

        package var name: String { testCase.name }
        package var location: SourceLocation { testCase.location }
    }

    package struct Report: Sendable {
        package var passedCases: [PolicyTestCase] = []
        package var failures: [Failure] = []

        package var passed: Int { passedCases.count }
        package var failed: Int { failures.count }

        /// Each failure with its differences (and, from `reproduce`, the command that shows the
        /// decision), each passing case when `verbose`, then the `N passed, M failed` line.
        package func render(verbose: Bool = false, reproduce: (PolicyTestCase) -> String? = { _ in nil }) -> String {
            var lines: [String] = []
            if verbose { lines += passedCases.map { "ok   \($0.location): \($0.name)" } }
            for failure in failures {
                lines.append("FAIL \(failure.location): \(failure.name)")
                lines += failure.differences.map { "    \($0)" }
                if let command = reproduce(failure.testCase) { lines.append("    reproduce: \(command)") }
            }
            lines.append("\(passed) passed, \(failed) failed")
            return lines.joined(separator: "\n")
        }
    }

    /// The cases of test files, and the problems of the files that could not be read (their
    /// cases are left out; the other files' cases still run).
    package struct Loaded: Sendable {
        package var cases: [PolicyTestCase] = []
        package var problems: [PolicyDiagnostic] = []
    }

    /// Reads the cases of the given test files, each file on its own: a file with a problem
    /// contributes its problems and no case. Two cases of one name are a problem too.
    package func load(_ files: [String]) -> Loaded {
        var loaded = Loaded()
        let loader = PolicyLoader(limits: limits)
        for file in files {
            switch loader.readYAML(file: file) {
            case let .failure(error):
                loaded.problems += error.diagnostics
            case let .success(root):
                guard let root else {
                    loaded.problems.append(PolicyDiagnostic("test file is empty", at: SourceLocation(file: file, line: 1, column: 1)))
                    continue
                }
                var reader = YAMLNodeReader(file: file, maxNodes: limits.maxNodes)
                let cases = reader.policyTestCases(root)
                if reader.diagnostics.isEmpty { loaded.cases += cases } else { loaded.problems += reader.diagnostics }
            }
        }
        var seen: [String: SourceLocation] = [:]
        for testCase in loaded.cases {
            if let first = seen[testCase.name] {
                loaded.problems.append(
                    PolicyDiagnostic("case name '\(testCase.name)' is already used at \(first)", at: testCase.location)
                )
            } else {
                seen[testCase.name] = testCase.location
            }
        }
        loaded.problems = PolicyLoader.sorted(loaded.problems)
        return loaded
    }

    /// Reads the cases of the given test files; every problem in them is reported together.
    package func cases(in files: [String]) throws(PolicyLoadError) -> [PolicyTestCase] {
        let loaded = load(files)
        guard loaded.problems.isEmpty else { throw PolicyLoadError(loaded.problems) }
        return loaded.cases
    }

    package func run(_ cases: [PolicyTestCase], against snapshot: PolicySnapshot) -> Report {
        var report = Report()
        for testCase in cases {
            let differences = Self.differences(testCase, snapshot)
            if differences.isEmpty {
                report.passedCases.append(testCase)
            } else {
                report.failures.append(Failure(testCase: testCase, differences: differences))
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
                // As the sidecar answers it: a token from no issuer of the policy is refused.
                var differences = compare(testCase.expected, Decision(effect: .deny, status: 401, reason: .issuerUntrusted))
                if !differences.isEmpty {
                    differences.insert(
                        "claims: iss \(iss.map { "'\($0)'" } ?? "is missing and") matches no issuer of the policy\(snapshot.issuerHint(for: iss ?? "")); set claims.iss or issuer",
                        at: 0
                    )
                }
                return differences
            }
            issuer = config
        }
        if snapshot.servers[testCase.serverID] == nil {
            return ["server: no server '\(testCase.serverID)' in the policy\(Suggestion.hint(for: testCase.serverID, in: snapshot.servers.keys))"]
        }
        let identity = Identity(claims: testCase.claims, issuer: issuer)
        let input = DecisionInput(serverID: testCase.serverID, identity: identity, operation: testCase.operation)
        // Each of `count` requests decided at one instant against fresh limits: the rules'
        // decision, then the limits for what they allowed.
        var ledger = LimitLedger()
        let instant = LimitTime(monotonic: 0, wall: 0)
        var decision = snapshot.decide(input)
        var refusal: (index: Int, limit: String)?
        for index in 1...testCase.count {
            decision = snapshot.decide(input)
            guard decision.isAllowed, let server = snapshot.servers[testCase.serverID] else { continue }
            let charges = server.charges(identity, [testCase.operation], clientIP: testCase.clientIP)
            if let refused = ledger.admit(charges, at: instant) {
                decision = Decision(effect: .deny, status: 429, reason: .rateLimited, rule: decision.rule)
                if refusal == nil { refusal = (index, refused.limit) }
            }
        }
        var differences = compare(testCase.expected, decision)
        if let limit = testCase.expected.limit, limit != refusal?.limit {
            differences.append("limit: expected \(limit.map { "\"\($0)\"" } ?? "(none)"), got \(refusal.map { "\"\($0.limit)\"" } ?? "(none)")")
        }
        if let first = testCase.expected.firstRefused, first != refusal?.index {
            differences.append(
                "first_refused: expected \(first.map(String.init) ?? "(none)"), got \(refusal.map { String($0.index) } ?? "(none): every one of \(testCase.count) had room")"
            )
        }
        return differences
    }

    /// What differs between what a case expects and the decision it got.
    static func compare(_ want: PolicyTestCase.Expectation, _ got: Decision) -> [String] {
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
        return differences
    }
}
