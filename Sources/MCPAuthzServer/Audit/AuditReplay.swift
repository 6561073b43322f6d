import MCPAuthzPolicy

/// Re-decides recorded decisions with a candidate policy (`mcp-authz replay`): from the
/// identity and operations each audit record holds, what the candidate would answer, and what
/// flips. A record that lacks something the candidate's answer depends on is counted
/// undecidable, never guessed.
package struct AuditReplay {
    package let snapshot: PolicySnapshot
    package private(set) var report = ReplayReport()

    /// How many decision ids each group keeps as samples.
    package static let sampleCount = 5

    package init(snapshot: PolicySnapshot) {
        self.snapshot = snapshot
    }

    /// Replays one line of an audit log; lines that are not decision records are passed over,
    /// lines that are not JSON objects are counted unreadable.
    package mutating func replay(line: some Collection<UInt8>, file: String, lineNumber: Int) {
        guard !line.isEmpty else { return }
        guard case let .object(fields)? = try? ClaimValue.parseJSON(line, maxDepth: 8) else {
            report.unreadable += 1
            if report.firstUnreadable == nil { report.firstUnreadable = "\(file):\(lineNumber)" }
            return
        }
        guard fields["event"] == .string("decision") else { return }
        report.records += 1
        let id = fields["decision_id"]?.stringValue ?? "\(file):\(lineNumber)"
        switch outcome(of: fields) {
        case let .skipped(why):
            report.skipped[why, default: 0] += 1
        case let .undecidable(why):
            report.undecidable[why, default: ReplayReport.Group()].add(id)
        case let .decided(operations, decision):
            // A request a limit refused was allowed by the rules; limits are not replayed.
            let allowed = fields["decision"] == .string("allow") || fields["reason"] == .string(Decision.Reason.rateLimited.rawValue)
            guard allowed != decision.isAllowed else {
                report.same += 1
                return
            }
            let flip = ReplayReport.Flip(
                direction: allowed ? .allowToDeny : .denyToAllow, server: fields["server"]?.stringValue ?? "",
                operation: operations.isEmpty ? "(no operation)" : operations.map(\.description).joined(separator: " + "),
                ruleBefore: fields["rule"]?.stringValue, ruleAfter: decision.rule, reasonAfter: decision.reason.rawValue
            )
            report.flips[flip, default: ReplayReport.Group()].add(id)
        }
    }

    private enum Outcome {
        case skipped(String)
        case undecidable(String)
        case decided([MCPOperation], Decision)
    }

    private static let policyReasons = Set(Decision.Reason.allCases.map(\.rawValue))

    private func outcome(of fields: [String: ClaimValue]) -> Outcome {
        guard let reason = fields["reason"]?.stringValue, Self.policyReasons.contains(reason) else {
            return .skipped("refused before the policy (\(fields["reason"]?.stringValue ?? "no reason"))")
        }
        guard let serverID = fields["server"]?.stringValue else { return .skipped("no server matched the request") }
        guard let iss = fields["issuer"]?.stringValue else { return .skipped("no verified caller") }
        let operations: [MCPOperation]
        switch Self.operations(in: fields) {
        case let .success(found): operations = found
        case let .failure(why): return .undecidable(why.text)
        }
        guard let issuer = snapshot.issuersByURL[iss] else {
            return .decided(operations, Decision(effect: .deny, status: 401, reason: .issuerUntrusted))
        }
        let identity: Identity
        switch self.identity(in: fields, issuer: issuer, serverID: serverID) {
        case let .success(found): identity = found
        case let .failure(why): return .undecidable(why.text)
        }
        // Argument values the record keeps are known; any other argument is not. Decided once
        // taking the unknown against the call and once for it: when the two differ, the answer
        // depends on what the record does not hold.
        let values = operations.count == 1 ? Self.argumentValues(in: fields) : [:]
        func decide(standingForAny: Bool) -> Decision {
            let arguments = MCPArguments(body: nil, headers: values, standForAny: standingForAny)
            let known = operations.map { MCPOperation(method: $0.method, target: $0.target, arguments: arguments) }
            return snapshot.decide(serverID: serverID, identity: identity, operations: known)
        }
        let strict = decide(standingForAny: false)
        guard strict.isAllowed == decide(standingForAny: true).isAllowed else {
            return .undecidable("the candidate decides on arguments the record does not hold (audit_arguments keeps them)")
        }
        return .decided(operations, strict)
    }

    struct Missing: Error {
        var text: String
    }

    /// Whether a recorded text may have been cut to the audit log's bound.
    private static func mayBeCut(_ text: String) -> Bool { text.utf8.count >= AuditLine.maxValueBytes }

    /// The operations a record names: its batch, or its one method and name.
    private static func operations(in fields: [String: ClaimValue]) -> Result<[MCPOperation], Missing> {
        if case let .integer(size)? = fields["batch_size"] {
            guard case let .array(items)? = fields["batch"], items.count == size else {
                return .failure(Missing(text: "a batch longer than the record keeps"))
            }
            var operations: [MCPOperation] = []
            for item in items {
                guard let text = item.stringValue, !mayBeCut(text), let operation = MCPOperation(description: text) else {
                    return .failure(Missing(text: "a batch entry the record cut short"))
                }
                operations.append(operation)
            }
            return .success(operations)
        }
        guard let method = fields["mcp_method"]?.stringValue else { return .success([]) }
        let name = fields["mcp_name"]?.stringValue
        if mayBeCut(method) || name.map(mayBeCut) == true { return .failure(Missing(text: "a method or name the record cut short")) }
        // `completion/complete` names a prompt or a resource the record does not tell apart.
        if name != nil, MCPMethod.targetKind(of: method) == nil {
            return .failure(Missing(text: "a target whose kind the record does not keep (\(method))"))
        }
        return .success([MCPOperation(method: method, name: name)])
    }

    /// The caller as the record describes them, read for the candidate's issuer.
    private func identity(in fields: [String: ClaimValue], issuer: IssuerConfig, serverID: String) -> Result<Identity, Missing> {
        func strings(_ key: String) -> [String]? {
            guard case let .array(items)? = fields[key] else { return nil }
            return items.compactMap(\.stringValue)
        }
        let scopes = strings("scopes") ?? []
        let groups = strings("groups") ?? []
        if scopes.count >= AuditLine.maxListCount { return .failure(Missing(text: "more scopes than the record keeps")) }
        if groups.count >= AuditLine.maxListCount { return .failure(Missing(text: "more groups than the record keeps")) }
        var recorded: [String: ClaimValue?] = [:]
        if case let .object(object)? = fields["claims"] {
            for (path, text) in object {
                if text == .null {
                    recorded[path] = .some(nil)
                } else if let text = text.stringValue, !Self.mayBeCut(text), let value = try? ClaimValue.parseJSON(Array(text.utf8)) {
                    recorded[path] = .some(value)
                }
            }
        }
        var claims: [String: ClaimValue] = [:]
        for path in snapshot.servers[serverID]?.claimPaths ?? [] {
            guard let value = recorded[path] else { return .failure(Missing(text: "claim '\(path)' not recorded")) }
            if let value { claims[path] = value }
        }
        var emailVerified: Bool?
        if case let .bool(verified)? = fields["email_verified"] { emailVerified = verified }
        return .success(
            Identity(
                issuerID: issuer.id.value, subject: fields["subject"]?.stringValue, email: fields["email"]?.stringValue,
                emailVerified: emailVerified, requireEmailVerified: issuer.requireEmailVerified, clientID: fields["client_id"]?.stringValue,
                scopes: Set(scopes), groups: Set(groups), claims: claims
            )
        )
    }

    /// The argument values a record keeps (`audit_arguments`), by path.
    private static func argumentValues(in fields: [String: ClaimValue]) -> [String: ClaimValue] {
        guard case let .object(object)? = fields["argument_values"] else { return [:] }
        var values: [String: ClaimValue] = [:]
        for (path, text) in object {
            guard let text = text.stringValue, !mayBeCut(text), let value = try? ClaimValue.parseJSON(Array(text.utf8)) else { continue }
            values[path] = value
        }
        return values
    }
}

extension MCPOperation {
    /// Reads back `description`: `method`, or `method kind 'name'`.
    package init?(description: String) {
        guard let space = description.firstIndex(of: " ") else {
            self.init(method: description)
            return
        }
        let method = String(description[..<space])
        let rest = description[description.index(after: space)...]
        guard let kindEnd = rest.firstIndex(of: " "), let kind = TargetKind(rawValue: String(rest[..<kindEnd])) else { return nil }
        let quoted = rest[rest.index(after: kindEnd)...]
        guard quoted.count >= 2, quoted.first == "'", quoted.last == "'" else { return nil }
        self.init(method: method, target: Target(kind: kind, name: String(quoted.dropFirst().dropLast())))
    }
}

/// What a replay found.
package struct ReplayReport: Sendable {
    /// Decision records read.
    package var records = 0
    /// Re-decided alike.
    package var same = 0
    package var flips: [Flip: Group] = [:]
    /// Records the candidate's answer depends on something they lack, by what.
    package var undecidable: [String: Group] = [:]
    /// Records no policy decided (a token refused, a request unreadable), by why.
    package var skipped: [String: Int] = [:]
    /// Lines that are not JSON objects (a torn last line).
    package var unreadable = 0
    package var firstUnreadable: String?

    package enum Direction: String, Sendable, CaseIterable {
        case allowToDeny = "allow_to_deny"
        case denyToAllow = "deny_to_allow"
    }

    /// Decisions that flip alike: same direction, server, operation and rules.
    package struct Flip: Sendable, Hashable {
        package var direction: Direction
        package var server: String
        package var operation: String
        package var ruleBefore: String?
        package var ruleAfter: String?
        package var reasonAfter: String
    }

    package struct Group: Sendable {
        package var count = 0
        package var samples: [String] = []

        mutating func add(_ id: String) {
            count += 1
            if samples.count < AuditReplay.sampleCount { samples.append(id) }
        }
    }

    package func count(_ direction: Direction) -> Int {
        flips.filter { $0.key.direction == direction }.reduce(0) { $0 + $1.value.count }
    }

    package var undecidableCount: Int { undecidable.values.reduce(0) { $0 + $1.count } }
    package var skippedCount: Int { skipped.values.reduce(0, +) }

    /// The flips, most frequent first, then by server and operation.
    package var sortedFlips: [(flip: Flip, group: Group)] {
        flips.map { ($0.key, $0.value) }.sorted { a, b in
            if a.flip.direction != b.flip.direction { return a.flip.direction == .denyToAllow }
            if a.group.count != b.group.count { return a.group.count > b.group.count }
            return (a.flip.server, a.flip.operation) < (b.flip.server, b.flip.operation)
        }
    }
}
