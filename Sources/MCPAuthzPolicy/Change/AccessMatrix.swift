/// `mcp-authz matrix`: who may do what on one server. Rows are the operations its rules and
/// catalog name (a pattern is one row, decided through an example name); columns are the
/// classes of callers the rules tell apart: a caller with none of the things the rules name
/// (groups, emails, domains, subjects, clients, claim values, issuers), then callers with one,
/// two or three of them, each kept when its cells differ from every column before it and,
/// for two or more things, when some cell is none of those of the callers with one thing
/// fewer (the rules combine them: a group and a claim together open what neither does).
/// Scopes are not columns: a cell a scope would open says which.
package struct AccessMatrix: Sendable {
    package struct Column: Sendable {
        package var label: String
        package var caller: Caller
    }

    package struct Row: Sendable {
        package var label: String
        package var operation: MCPOperation
        package var cells: [Cell]
    }

    package struct Cell: Sendable, Hashable {
        package enum Kind: String, Sendable {
            case allow
            case deny
            /// Allowed once the caller has these scopes.
            case withScopes = "scopes"
        }

        package var kind: Kind
        package var scopes: [String] = []
        /// Allowed only for some arguments (an argument condition decides).
        package var someArguments = false

        package var text: String {
            var text: String
            switch kind {
            case .allow: text = "allow"
            case .deny: text = "deny"
            case .withScopes: text = "with scope\(scopes.count == 1 ? "" : "s") " + scopes.joined(separator: " ")
            }
            if someArguments { text += " (some arguments)" }
            return text
        }
    }

    package var server: String
    package var columns: [Column] = []
    package var rows: [Row] = []
    /// Callers left out by the column bound.
    package var hiddenColumns = 0
    /// Whether the bound on callers tried left combinations of attributes untried.
    package var untried = false
    /// How many callers were decided.
    package var callersTried = 0

    package static let defaultMaxColumns = 40

    /// Nil when the policy has no such server.
    package init?(_ snapshot: PolicySnapshot, server id: String, maxColumns: Int = defaultMaxColumns) {
        guard let server = snapshot.policy.servers.first(where: { $0.id.value == id }) else { return nil }
        self.server = id
        let lookup = RuleLookup(server)
        let issuers = server.issuers.compactMap { issuer in snapshot.issuers[issuer.value].map { ($0.id.value, $0.issuer.value) } }
        guard let first = issuers.first else { return }
        let space = CallerSpace(rules: lookup.rules, issuers: issuers.map(\.1))
        let anyone = Caller(issuer: first.1, subject: CallerSpace.otherSubject)
        // Every single thing the rules name that a caller can have; each is its own dimension
        // but an email and a domain (one address), a subject, a client and an issuer.
        var attributes: [(dimension: String, label: String, apply: @Sendable (inout Caller) -> Void)] = []
        for (id, url) in issuers.dropFirst() { attributes.append(("issuer", "issuer \(id)", { $0.issuer = url })) }
        for group in space.groups { attributes.append(("group " + group, "group \(group)", { $0.groups.insert(group) })) }
        for email in space.emails { attributes.append(("email", email, { $0.email = email })) }
        for domain in space.domains { attributes.append(("email", "@\(domain)", { $0.email = "someone@\(domain)" })) }
        for subject in space.subjects { attributes.append(("subject", "subject \(subject)", { $0.subject = subject })) }
        for client in space.clients { attributes.append(("client", "client \(client)", { $0.client = client })) }
        for claim in space.claims where !claim.values.contains(CallerSpace.claimExample) {
            for value in claim.values {
                attributes.append(
                    (
                        "claim \(claim.path) \(value.jsonText)", "\(claim.path) = \(value.jsonText)",
                        { caller in
                            switch caller.claims[claim.path] {
                            case nil: caller.claims[claim.path] = value
                            case let .array(items)?: caller.claims[claim.path] = .array(items + [value])
                            case let other?: caller.claims[claim.path] = .array([other, value])
                            }
                        }
                    )
                )
            }
        }
        // Callers with no attribute, then one, two and three of them, up to a bound; a caller
        // whose cells equal an earlier one's shows nothing new and is not a column.
        let operations = Self.operations(of: server).filter { !lookup.matching($0.1).isEmpty }
        // At most this many callers, fewer for many operations (each caller decides every row).
        let budget = max(Self.minCallers, min(Self.maxCallers, Self.maxCells / max(operations.count, 1)))
        var combinations: [[Int]] = [[]]
        var level: [[Int]] = [[]]
        grow: for _ in 1...3 {
            var next: [[Int]] = []
            for combination in level {
                for index in (combination.last.map { $0 + 1 } ?? 0)..<attributes.count
                where !combination.contains(where: { attributes[$0].dimension == attributes[index].dimension }) {
                    guard combinations.count + next.count < budget else {
                        untried = true
                        combinations += next
                        break grow
                    }
                    next.append(combination + [index])
                }
            }
            combinations += next
            level = next
        }
        callersTried = combinations.count
        // Each distinct column, with the callers of its size that it stands for.
        var columns: [(caller: Caller, size: Int, labels: [String], cells: [Cell])] = []
        var byCells: [[Cell]: Int] = [:]
        var cellsOf: [[Int]: [Cell]] = [:]
        for combination in combinations {
            var caller = anyone
            for index in combination { attributes[index].apply(&caller) }
            let cells = operations.map { Self.cell(caller, $0.1, id, snapshot) }
            cellsOf[combination] = cells
            // Two or more things together are a class of their own only where some cell is
            // none of the cells of the callers with one thing fewer (the rules combine them).
            if combination.count > 1 {
                let fewer = combination.indices.compactMap { dropped in
                    cellsOf[combination.indices.filter { $0 != dropped }.map { combination[$0] }]
                }
                let combined = cells.indices.contains { row in !fewer.contains { $0[row] == cells[row] } }
                guard combined else { continue }
            }
            let label = combination.isEmpty ? "any caller" : combination.map { attributes[$0].label }.joined(separator: " + ")
            if let existing = byCells[cells] {
                if columns[existing].size == combination.count { columns[existing].labels.append(label) }
                continue
            }
            byCells[cells] = columns.count
            columns.append((caller, combination.count, [label], cells))
        }
        func label(_ labels: [String]) -> String {
            labels.count <= 3 ? labels.joined(separator: " or ") : labels.prefix(3).joined(separator: " or ") + " or \(labels.count - 3) more"
        }
        hiddenColumns = max(0, columns.count - maxColumns)
        self.columns = columns.prefix(maxColumns).map { Column(label: label($0.labels), caller: $0.caller) }
        let shown = columns.prefix(maxColumns).map(\.cells)
        rows = operations.enumerated().map { index, operation in
            Row(label: operation.0, operation: operation.1, cells: shown.map { $0[index] })
        }
    }

    /// At most this many callers are tried, and at most `maxCells` cells decided, but never
    /// fewer than `minCallers` callers.
    static let maxCallers = 4096
    static let maxCells = 2_000_000
    static let minCallers = 64

    /// The operations to show: methods, then tools, prompts and resources by name, then each
    /// pattern (labelled as written, decided through an example name).
    static func operations(of server: ServerConfig) -> [(String, MCPOperation)] {
        var methods: [Glob] = []
        var names: [TargetKind: [Glob]] = [:]
        for rule in server.rules where rule.mode == .enforce {
            let targets = CompiledTargets(rule.targets, catalog: server.catalog)
            methods += targets.methods
            for (kind, globs) in targets.byKind { names[kind, default: []] += globs }
        }
        if let catalog = server.catalog { names[.tool, default: []] += catalog.tools.map { Glob(Glob.literal($0.name)) } }
        var seen = Set<String>()
        var operations: [(String, MCPOperation)] = []
        for glob in methods where seen.insert("method " + glob.pattern).inserted {
            operations.append((glob.pattern, MCPOperation(method: glob.example(), target: nil)))
        }
        for kind in TargetKind.allCases {
            let globs = names[kind] ?? []
            let ordered = globs.filter { $0.exactName != nil }.sorted { $0.pattern < $1.pattern } + globs.filter { $0.exactName == nil }
            for glob in ordered where seen.insert("\(kind) " + glob.pattern).inserted {
                let label = "\(kind.rawValue) \(glob.exactName ?? glob.pattern)" + (glob.exactName == nil ? " (pattern)" : "")
                operations.append((label, MCPOperation(method: kind.callMethod, target: .init(kind: kind, name: glob.example()))))
            }
        }
        return operations
    }

    /// What the policy says to a caller with no scopes: allow, deny, or the scopes that would
    /// open it; marked when only some arguments are allowed.
    static func cell(_ caller: Caller, _ operation: MCPOperation, _ server: String, _ snapshot: PolicySnapshot) -> Cell {
        guard let identity = caller.identity(in: snapshot) else { return Cell(kind: .deny) }
        func decide(_ identity: Identity, _ arguments: MCPArguments) -> Decision {
            snapshot.decide(
                DecisionInput(
                    serverID: server, identity: identity,
                    operation: MCPOperation(method: operation.method, target: operation.target, arguments: arguments))
            )
        }
        var decision = decide(identity, .any)
        var cell = Cell(kind: .allow)
        var decided = identity
        if !decision.isAllowed {
            guard !decision.requiredScopes.isEmpty else { return Cell(kind: .deny) }
            decided.scopes.formUnion(decision.requiredScopes)
            decision = decide(decided, .any)
            guard decision.isAllowed else { return Cell(kind: .deny) }
            cell = Cell(kind: .withScopes, scopes: decided.scopes.subtracting(identity.scopes).sorted())
        }
        // Allowed for some call; for any call only when it holds without seeing the arguments.
        cell.someArguments = !decide(decided, .unavailable).isAllowed
        return cell
    }
}
