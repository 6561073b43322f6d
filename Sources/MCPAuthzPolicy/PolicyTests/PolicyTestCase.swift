import Yams

/// One case of a policy test file: a caller's token claims, a request, and the decision the
/// policy must give.
package struct PolicyTestCase: Sendable {
    package var name: String
    package var location: SourceLocation
    package var serverID: String
    /// Issuer id; when absent the issuer is found by the claims' `iss`.
    package var issuerID: String?
    package var claims: [String: ClaimValue]
    package var operation: MCPOperation
    package var expected: Expectation
    /// `request.count`: the request sent this many times at one instant; the last one's
    /// decision is compared (1 by default).
    package var count = 1
    /// `request.client_ip`, for limits keyed by `client_ip`.
    package var clientIP: String?

    /// What the case asserts; unset parts are not checked.
    package struct Expectation: Sendable {
        package var decision: Decision.Effect
        package var status: Int?
        package var reason: Decision.Reason?
        /// `.some(nil)` asserts that no rule decided.
        package var rule: String??
        package var requiredScopes: [String]?
        /// The limit that refuses (`.some(nil)`: none does).
        package var limit: String?? = nil
        /// Which of `count` requests is the first a limit refuses (1-based; `.some(nil)`: none).
        package var firstRefused: Int?? = nil
    }
}

extension YAMLNodeReader {
    /// A policy test file: `cases:`, a list of cases.
    mutating func policyTestCases(_ root: Node) -> [PolicyTestCase] {
        guard let fields = fields(root, what: "a policy test file", allowed: PolicyKeys.testFile, required: PolicyKeys.testFile),
            let node = fields["cases"], let list = sequence(node, what: "cases")
        else { return [] }
        return list.compactMap { testCase($0) }
    }

    private mutating func testCase(_ node: Node) -> PolicyTestCase? {
        guard let fields = fields(node, what: "a test case", allowed: PolicyKeys.testCase, required: PolicyKeys.testCaseRequired),
            let name = fields["name"].flatMap({ string($0, what: "case name") }),
            let server = fields["server"].flatMap({ string($0, what: "server") }),
            let claimsNode = fields["claims"],
            case let .object(claims)? = claimValue(claimsNode, what: "claims", allowObjects: true),
            let requestNode = fields["request"],
            let request = self.fields(requestNode, what: "request", allowed: PolicyKeys.testRequest, required: ["method"]),
            let method = request["method"].flatMap({ string($0, what: "method") }),
            let expectNode = fields["expect"],
            let expected = expectation(expectNode)
        else { return nil }
        let issuer = fields["issuer"].flatMap { string($0, what: "issuer") }
        let targetName = request["name"].flatMap { string($0, what: "name") }
        if targetName != nil, MCPMethod.targetKind(of: method.value) == nil, let node = request["name"] {
            error("method '\(method.value)' does not name a tool, prompt or resource, so 'name' would be ignored", at: node)
        }
        // Arguments not given are unknown, as for a request whose body was not seen.
        var arguments = MCPArguments.unavailable
        if let node = request["arguments"] {
            guard case let .object(object)? = claimValue(node, what: "arguments", allowObjects: true) else {
                if node.mapping == nil { error("arguments must be a mapping of argument name to value", at: node) }
                return nil
            }
            arguments = .known(object)
        }
        var testCase = PolicyTestCase(
            name: name.value, location: fields.location, serverID: server.value, issuerID: issuer?.value, claims: claims,
            operation: MCPOperation(method: method.value, name: targetName?.value, arguments: arguments), expected: expected
        )
        if let node = request["count"] { testCase.count = int(node, what: "count", range: 1...100_000) ?? 1 }
        testCase.clientIP = request["client_ip"].flatMap { string($0, what: "client_ip") }?.value
        return testCase
    }

    private mutating func expectation(_ node: Node) -> PolicyTestCase.Expectation? {
        guard let fields = fields(node, what: "expect", allowed: PolicyKeys.testExpect, required: ["decision"]),
            let decisionNode = fields["decision"], let decisionText = string(decisionNode, what: "decision")
        else { return nil }
        let decision = Decision.Effect(rawValue: decisionText.value)
        if decision == nil {
            error("decision must be allow or deny, found '\(decisionText.value)'", at: decisionNode)
        }
        var expectation = PolicyTestCase.Expectation(decision: decision ?? .deny)
        if let node = fields["status"] { expectation.status = int(node, what: "status", range: 100...599) }
        if let node = fields["reason"], let text = string(node, what: "reason") {
            expectation.reason = Decision.Reason(rawValue: text.value)
            if expectation.reason == nil {
                let codes = Decision.Reason.allCases.map(\.rawValue)
                error(
                    "unknown reason '\(text.value)'\(Suggestion.hint(for: text.value, in: codes)); reasons: \(codes.joined(separator: ", "))",
                    at: node)
            }
        }
        if let node = fields["rule"] {
            expectation.rule = node.resolvedTagName == .null ? .some(nil) : string(node, what: "rule").map { .some($0.value) }
        }
        if let node = fields["limit"] {
            expectation.limit = node.resolvedTagName == .null ? .some(nil) : string(node, what: "limit").map { .some($0.value) }
        }
        if let node = fields["first_refused"] {
            expectation.firstRefused =
                node.resolvedTagName == .null ? .some(nil) : int(node, what: "first_refused", range: 1...100_000).map { .some($0) }
        }
        if let node = fields["required_scopes"] {
            expectation.requiredScopes = stringList(node, what: "required_scopes", allowEmpty: true)?.map(\.value).sorted()
        }
        return decision == nil ? nil : expectation
    }
}

extension PolicyTestCase.Expectation {
    init(decision: Decision.Effect) {
        self.init(decision: decision, status: nil, reason: nil, rule: nil, requiredScopes: nil)
    }
}
