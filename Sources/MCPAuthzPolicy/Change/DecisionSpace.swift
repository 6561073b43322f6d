/// The operations and callers one or more policies tell apart, for `diff` and `matrix`: every
/// decision a policy takes depends only on which rules' targets match the operation and on
/// which of the names, values and arguments their conditions mention the caller and call have.
/// A representative of each such class is enough to know every decision.

/// A caller and a call's arguments as plain attributes, decided by any policy that trusts the
/// issuer.
package struct Caller: Sendable, Hashable {
    /// The issuer's `iss`.
    package var issuer: String
    package var subject: String?
    package var email: String?
    package var client: String?
    package var scopes: Set<String> = []
    package var groups: Set<String> = []
    /// Claims by the path conditions name.
    package var claims: [String: ClaimValue] = [:]
    /// The call's `params.arguments`, nil when they were not seen.
    package var arguments: [String: ClaimValue]? = [:]

    package init(issuer: String, subject: String? = nil, email: String? = nil, client: String? = nil) {
        self.issuer = issuer
        self.subject = subject
        self.email = email
        self.client = client
    }

    /// The identity a policy reads from this caller (email verified), or nil when no issuer of
    /// the policy has this `iss`.
    package func identity(in snapshot: PolicySnapshot) -> Identity? {
        guard let issuer = snapshot.issuersByURL[issuer] else { return nil }
        return Identity(
            issuerID: issuer.id.value, subject: subject, email: email, emailVerified: true, requireEmailVerified: issuer.requireEmailVerified,
            clientID: client, scopes: scopes, groups: groups, claims: claims
        )
    }

    /// The decision a policy takes on this caller making this call.
    package func decide(_ operation: MCPOperation, server: String, in snapshot: PolicySnapshot) -> Decision {
        guard let identity = identity(in: snapshot) else { return Decision(effect: .deny, status: 401, reason: .issuerUntrusted) }
        let call = MCPOperation(method: operation.method, target: operation.target, arguments: arguments.map(MCPArguments.known) ?? .unavailable)
        return snapshot.decide(serverID: server, identity: identity, operations: [call])
    }

    /// Token claims that carry this caller, laid out as the issuer configuration reads them.
    package func tokenClaims(readBy issuer: IssuerConfig?) -> [String: ClaimValue] {
        var token: [String: ClaimValue] = ["iss": .string(self.issuer)]
        for (path, value) in claims { token[path] = value }
        if let subject { token["sub"] = .string(subject) }
        if let client { token["azp"] = .string(client) }
        if let email {
            Self.set(.string(email), at: issuer?.emailClaim ?? "email", in: &token)
            token["email_verified"] = .bool(true)
        }
        if !scopes.isEmpty {
            let claim = issuer?.scopeClaims.first ?? "scope"
            let value: ClaimValue =
                claim == "scope" ? .string(scopes.sorted().joined(separator: " ")) : .array(scopes.sorted().map(ClaimValue.string))
            Self.set(value, at: claim, in: &token)
        }
        if !groups.isEmpty { Self.set(.array(groups.sorted().map(ClaimValue.string)), at: issuer?.groupsClaim ?? "groups", in: &token) }
        return token
    }

    /// Sets a value at a dotted claim path, making the objects on the way.
    private static func set(_ value: ClaimValue, at path: String, in object: inout [String: ClaimValue]) {
        guard let dot = path.firstIndex(of: "."), object[path] == nil else {
            object[path] = value
            return
        }
        let head = String(path[..<dot])
        var inner: [String: ClaimValue] = [:]
        if case let .object(existing)? = object[head] { inner = existing }
        set(value, at: String(path[path.index(after: dot)...]), in: &inner)
        object[head] = .object(inner)
    }
}

/// Which rules of one server apply to an operation, found without scanning every rule: exact
/// names by table, patterns by trying each.
struct RuleLookup {
    private var byMethod: [String: [Int]] = [:]
    private var methodPatterns: [(Glob, Int)] = []
    private var byTarget: [TargetKind: [String: [Int]]] = [:]
    private var targetPatterns: [TargetKind: [(Glob, Int)]] = [:]
    let rules: [Rule]

    /// The server's enforced rules (dry-run rules never decide).
    init(_ server: ServerConfig) {
        rules = server.rules.filter { $0.mode == .enforce }
        for (index, rule) in rules.enumerated() {
            let targets = CompiledTargets(rule.targets, catalog: server.catalog)
            for glob in targets.methods {
                if let name = glob.exactName { byMethod[name, default: []].append(index) } else { methodPatterns.append((glob, index)) }
            }
            for (kind, globs) in targets.byKind {
                for glob in globs {
                    if let name = glob.exactName {
                        byTarget[kind, default: [:]][name, default: []].append(index)
                    } else {
                        targetPatterns[kind, default: []].append((glob, index))
                    }
                }
            }
        }
    }

    /// The indexes of the rules whose targets match the operation, in order.
    func matching(_ operation: MCPOperation) -> [Int] {
        var found = Set(byMethod[operation.method] ?? [])
        for (glob, index) in methodPatterns where glob.matches(operation.method) { found.insert(index) }
        if let target = operation.target {
            found.formUnion(byTarget[target.kind]?[target.name] ?? [])
            for (glob, index) in targetPatterns[target.kind] ?? [] where glob.matches(target.name) { found.insert(index) }
        }
        return found.sorted()
    }
}

/// The operations worth deciding for a server: every method and name its rules or catalog
/// name, an example of each pattern, examples where two patterns overlap, and a name no rule
/// names, crossed with the methods that act on each kind of target.
struct OperationSpace {
    /// Methods that act on named targets, with the kind they name.
    static let targetMethods: [(String, TargetKind)] = [
        ("tools/call", .tool), ("prompts/get", .prompt), ("completion/complete", .prompt), ("resources/read", .resource),
        ("resources/subscribe", .resource), ("resources/unsubscribe", .resource), ("completion/complete", .resource),
    ]
    /// A name no policy uses, standing for all such names.
    static let otherName = "mcp-authz-unnamed"
    static let otherMethod = "mcp-authz/unnamed"

    /// One operation to decide.
    struct Entry {
        var operation: MCPOperation
        /// Nil for a method or name a policy or catalog gives; else what the example stands
        /// for: the pattern it is an example of, or how it was made.
        var standsFor: String?
    }

    private(set) var operations: [Entry] = []

    init(servers: [ServerConfig]) {
        var methodPatterns: [Glob] = []
        var names: [TargetKind: [Glob]] = [:]
        for server in servers {
            for rule in server.rules {
                let targets = CompiledTargets(rule.targets, catalog: server.catalog)
                methodPatterns += targets.methods
                for (kind, globs) in targets.byKind { names[kind, default: []] += globs }
            }
            if let catalog = server.catalog {
                names[.tool, default: []] += catalog.tools.map { Glob(Glob.literal($0.name)) }
                names[.prompt, default: []] += catalog.prompts.map { Glob(Glob.literal($0)) }
                names[.resource, default: []] += catalog.resources.map { Glob(Glob.literal($0)) }
            }
        }
        let targetMethods = Set(Self.targetMethods.map(\.0))
        for (method, standsFor) in Self.examples(methodPatterns, other: Self.otherMethod, known: MCPMethod.known)
        where !targetMethods.contains(method) {
            operations.append(Entry(operation: MCPOperation(method: method, target: nil), standsFor: standsFor))
        }
        var byKind: [TargetKind: [(String, String?)]] = [:]
        for kind in TargetKind.allCases { byKind[kind] = Self.examples(names[kind] ?? [], other: Self.otherName, known: []) }
        for (method, kind) in Self.targetMethods {
            for (name, standsFor) in byKind[kind] ?? [] {
                operations.append(Entry(operation: MCPOperation(method: method, target: .init(kind: kind, name: name)), standsFor: standsFor))
            }
        }
    }

    /// The names to try for a set of patterns: each exact name, each pattern's examples, names
    /// two patterns both match, one name none matches, and `known` names; each with what it
    /// stands for when it is an example.
    private static func examples(_ patterns: [Glob], other: String, known: Set<String>) -> [(String, String?)] {
        var literal = known
        var wild: [Glob] = []
        var seenPatterns = Set<String>()
        for glob in patterns where seenPatterns.insert(glob.pattern).inserted {
            if let name = glob.exactName { literal.insert(name) } else { wild.append(glob) }
        }
        var examples: [String: String] = [:]
        func add(_ name: String, _ standsFor: String) {
            if !literal.contains(name), examples[name] == nil { examples[name] = standsFor }
        }
        for glob in wild {
            add(glob.example(), "'\(glob.pattern)'")
            add(glob.example(star: "x"), "'\(glob.pattern)'")
        }
        // Where two patterns overlap (`a*` and `*b`): one matches the other's example joined to its own.
        for a in wild {
            for b in wild where a.pattern != b.pattern {
                for joined in [a.example() + b.example(), a.example() + "-" + b.example()] where a.matches(joined) && b.matches(joined) {
                    add(joined, "'\(a.pattern)' and '\(b.pattern)'")
                }
            }
        }
        add(other, "names no rule gives")
        return literal.sorted().map { ($0, nil) } + examples.keys.sorted().map { ($0, examples[$0]) }
    }
}

/// The distinctions a set of rules draws between callers of one operation, and a
/// representative caller of each class.
struct CallerSpace {
    var issuers: [String]
    var scopes: [String] = []
    var groups: [String] = []
    var emails: [String] = []
    var domains: [String] = []
    var subjects: [String] = []
    var clients: [String] = []
    var claims: [(path: String, values: [ClaimValue])] = []
    /// Argument paths with the values worth trying (nil: absent).
    var arguments: [(path: String, values: [ClaimValue?])] = []
    /// Each argument condition, whose value on a call is part of its class.
    var argumentTests: [CompiledArgument] = []

    /// The value a `claim:` argument matcher is tried with, in both the claim and the argument.
    static let claimExample = ClaimValue.string("mcp-authz-claim-value")
    static let otherSubject = "someone"

    /// - Parameters:
    ///   - rules: the rules that apply to the operation, from every policy compared.
    ///   - issuers: the `iss` of every issuer the server accepts in any policy compared.
    init(rules: [Rule], issuers: [String]) {
        self.issuers = issuers
        var scopes = Set<String>(), groups = Set<String>(), emails = Set<String>(), domains = Set<String>()
        var subjects = Set<String>(), clients = Set<String>()
        var claims: [String: Set<ClaimValue>] = [:]
        var arguments: [String: Set<ClaimValue>] = [:]
        var tests: [ArgumentCondition] = []
        func values(_ list: [Located<String>]?) -> [String] { (list ?? []).map(\.value) }
        func collect(_ condition: Condition?) {
            guard let condition else { return }
            scopes.formUnion(values(condition.scopes) + values(condition.anyScopes))
            groups.formUnion(values(condition.groups))
            emails.formUnion(values(condition.emails))
            domains.formUnion(values(condition.emailDomains))
            subjects.formUnion(values(condition.subjects))
            clients.formUnion(values(condition.clients))
            for claim in condition.claims ?? [] { claims[claim.path.value, default: []].formUnion(claim.values) }
            for argument in condition.arguments ?? [] {
                tests.append(argument)
                arguments[argument.path.value, default: []].formUnion(Self.examples(for: argument.matcher))
                for path in argument.matcher.claimPaths { claims[path, default: []].insert(Self.claimExample) }
            }
            collect(condition.not?.value)
        }
        for rule in rules { collect(rule.condition) }
        self.scopes = scopes.sorted()
        self.groups = groups.sorted()
        self.emails = emails.sorted()
        self.domains = domains.sorted()
        self.subjects = subjects.sorted()
        self.clients = clients.sorted()
        self.claims = claims.keys.sorted().map { ($0, claims[$0]!.sorted { $0.jsonText < $1.jsonText }) }
        self.arguments = arguments.keys.sorted().map { path in
            (path, [nil] + arguments[path]!.sorted { $0.jsonText < $1.jsonText }.map { Optional($0) })
        }
        argumentTests = tests.map(CompiledArgument.init)
        // Bounds that keep every index computable: a claim with many values is tried one value
        // at a time, not in every combination; many argument values are cut to a few per path.
        claimRadices = self.claims.map { $0.values.count > Self.maxClaimCombinations ? $0.values.count + 1 : 1 << $0.values.count }
        reduced = self.claims.contains { $0.values.count > Self.maxClaimCombinations }
        var product = 1
        for argument in self.arguments {
            let (next, overflow) = product.multipliedReportingOverflow(by: argument.values.count)
            product = overflow ? Int.max : next
        }
        if product > Self.maxArgumentCombinations {
            reduced = true
            self.arguments = self.arguments.map { ($0.path, Array($0.values.prefix(3))) }
            product = self.arguments.reduce(1) { $0 * $1.values.count }
        }
        argumentRadix = self.arguments.isEmpty ? 1 : product + 1
    }

    /// Claims with more named values than this are tried one value at a time.
    static let maxClaimCombinations = 8
    static let maxArgumentCombinations = 1 << 16
    /// How many choices each claim has.
    private var claimRadices: [Int] = []
    /// How many choices the arguments have: each combination of values, and "not seen".
    private var argumentRadix = 1
    /// Whether a bound left some combinations untried.
    private(set) var reduced = false

    /// Argument values that tell a matcher's cases apart: each value it names, each side of
    /// each bound, strings at and past a length, and a value of no comparable type.
    static func examples(for matcher: ArgumentMatcher) -> [ClaimValue] {
        switch matcher {
        case let .pattern(glob): return [.string(glob.example()), .string(glob.example(star: "x")), .string(OperationSpace.otherName), .object([:])]
        case let .equals(value): return [value, .object([:])]
        case let .oneOf(values): return values + [.object([:])]
        case let .min(bound), let .max(bound): return [.number(bound), .number(bound - 1), .number(bound + 1), .object([:])]
        case let .maxLength(length):
            return [.string(String(repeating: "a", count: length)), .string(String(repeating: "a", count: length + 1)), .object([:])]
        case .present: return [.object([:])]
        case .claim: return [claimExample, .string(OperationSpace.otherName)]
        case let .anyOf(matchers), let .all(matchers): return matchers.flatMap(examples(for:))
        }
    }

    /// How many representatives there are (saturating).
    var count: Int {
        var total = issuers.count
        func times(_ n: Int) {
            let (next, overflow) = total.multipliedReportingOverflow(by: n)
            total = overflow ? Int.max : next
        }
        times(1 + emails.count + domains.count)
        times(1 + subjects.count)
        times(1 + clients.count)
        for _ in 0..<(scopes.count + groups.count) { times(2) }
        for radix in claimRadices { times(radix) }
        times(argumentRadix)
        return total
    }

    /// The representative with this index, in `0..<count` (mixed radix over the dimensions).
    func caller(_ index: Int) -> Caller {
        var rest = index
        func digit(_ radix: Int) -> Int {
            let value = rest % radix
            rest /= radix
            return value
        }
        var caller = Caller(issuer: issuers[digit(issuers.count)])
        let email = digit(1 + emails.count + domains.count)
        if email > 0 { caller.email = email <= emails.count ? emails[email - 1] : "someone@" + domains[email - 1 - emails.count] }
        let subject = digit(1 + subjects.count)
        caller.subject = subject == 0 ? Self.otherSubject : subjects[subject - 1]
        let client = digit(1 + clients.count)
        caller.client = client == 0 ? nil : clients[client - 1]
        for scope in scopes where digit(2) == 1 { caller.scopes.insert(scope) }
        for group in groups where digit(2) == 1 { caller.groups.insert(group) }
        for (claim, radix) in zip(claims, claimRadices) {
            let choice = digit(radix)
            let chosen: [ClaimValue]
            if claim.values.count > Self.maxClaimCombinations {
                chosen = choice == 0 ? [] : [claim.values[choice - 1]]
            } else {
                chosen = claim.values.indices.filter { choice & (1 << $0) != 0 }.map { claim.values[$0] }
            }
            if chosen.count == 1 { caller.claims[claim.path] = chosen[0] } else if chosen.count > 1 { caller.claims[claim.path] = .array(chosen) }
        }
        if !arguments.isEmpty {
            var choice = digit(argumentRadix)
            if choice == argumentRadix - 1 {
                caller.arguments = nil
            } else {
                var body: [String: ClaimValue] = [:]
                for argument in arguments {
                    let value = argument.values[choice % argument.values.count]
                    choice /= argument.values.count
                    if let value { body[argument.path] = value }
                }
                caller.arguments = body
            }
        }
        return caller
    }

    /// The class of a caller: what each distinction says of it. Two callers of one class get the
    /// same decision from every policy these distinctions came from.
    func signature(of caller: Caller, in snapshot: PolicySnapshot) -> [UInt8] {
        var signature: [UInt8] = [UInt8(truncatingIfNeeded: (issuers.firstIndex(of: caller.issuer) ?? 255) & 0xFF)]
        guard let identity = caller.identity(in: snapshot) else { return signature + [255] }
        func bit(_ value: Bool) { signature.append(value ? 1 : 0) }
        for scope in scopes { bit(identity.scopes.contains(scope)) }
        for group in groups { bit(identity.groups.contains(group)) }
        for email in emails { bit(identity.usableEmail == EmailAddress.normalized(email)) }
        for domain in domains { bit(identity.emailDomain == domain.lowercased()) }
        for subject in subjects { bit(identity.subject == subject) }
        for client in clients { bit(identity.clientID == client) }
        for claim in claims {
            for value in claim.values { bit(CompiledCondition.claimHolds(claim.path, [value], in: identity.claims)) }
        }
        if !argumentTests.isEmpty {
            guard let body = caller.arguments else { return signature + [254] }
            for test in argumentTests {
                switch test.evaluate(.known(body), caller: identity) {
                case .holds: signature.append(1)
                case .fails: signature.append(0)
                case .unknown: signature.append(2)
                }
            }
        }
        return signature
    }
}
