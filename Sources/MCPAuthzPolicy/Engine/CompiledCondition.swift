/// A rule's `when:`, as sets ready for matching.
package struct CompiledCondition: Sendable {
    /// The condition keys, in the order they are checked and reported.
    package enum Key: String, Sendable {
        case issuers
        case scopes
        case anyScopes = "any_scopes"
        case emails
        case emailDomains = "email_domains"
        case subjects
        case clients
        case groups
        case claims
        case arguments
        case not
    }

    /// A condition's value for one call: it holds, a key fails, or arguments it needs cannot be
    /// evaluated (not seen, or of a type the matcher cannot compare).
    package enum Evaluation: Sendable, Equatable {
        case holds
        case fails(Key)
        case unknown
    }

    var issuers: NameSet?
    var scopes: NameSet?
    var anyScopes: NameSet?
    var emails: NameSet?
    var emailDomains: NameSet?
    var subjects: NameSet?
    var clients: NameSet?
    var groups: NameSet?
    var claims: [(path: String, values: [ClaimValue])]
    package var arguments: [CompiledArgument]
    /// Zero or one nested condition that must not hold.
    package var negated: [CompiledCondition]
    /// Whether this condition or a nested one looks at arguments: only then can it be unknown.
    let readsArguments: Bool
    /// The argument paths this condition and those nested in it look at (kept, so a decision
    /// that reports them allocates nothing).
    package let argumentPaths: [String]

    static let always = CompiledCondition(
        issuers: nil, scopes: nil, anyScopes: nil, emails: nil, emailDomains: nil, subjects: nil, clients: nil,
        groups: nil, claims: [], arguments: [], negated: []
    )

    init(
        issuers: NameSet?, scopes: NameSet?, anyScopes: NameSet?, emails: NameSet?,
        emailDomains: NameSet?, subjects: NameSet?, clients: NameSet?, groups: NameSet?,
        claims: [(path: String, values: [ClaimValue])], arguments: [CompiledArgument], negated: [CompiledCondition]
    ) {
        self.arguments = arguments
        readsArguments = !arguments.isEmpty || negated.contains { $0.readsArguments }
        argumentPaths = arguments.map(\.path) + negated.flatMap(\.argumentPaths)
        self.issuers = issuers
        self.scopes = scopes
        self.anyScopes = anyScopes
        self.emails = emails
        self.emailDomains = emailDomains
        self.subjects = subjects
        self.clients = clients
        self.groups = groups
        self.claims = claims
        self.negated = negated
    }

    init(_ condition: Condition?) {
        guard let condition else {
            self = .always
            return
        }
        func set(_ list: [Located<String>]?) -> NameSet? { list.map { NameSet($0.map(\.value)) } }
        self.init(
            issuers: set(condition.issuers), scopes: set(condition.scopes), anyScopes: set(condition.anyScopes),
            emails: set(condition.emails), emailDomains: set(condition.emailDomains), subjects: set(condition.subjects),
            clients: set(condition.clients), groups: set(condition.groups),
            claims: (condition.claims ?? []).map { ($0.path.value, $0.values) },
            arguments: (condition.arguments ?? []).map(CompiledArgument.init),
            negated: condition.not.map { [CompiledCondition($0.value)] } ?? []
        )
    }

    /// The condition's value for a call. Decisions and explanations both use this, so they
    /// cannot disagree. Keys are checked in order; a failing key decides even when an argument
    /// before it is unknown (false wins a conjunction).
    package func evaluate(_ identity: Identity, _ arguments: MCPArguments) -> Evaluation {
        if let failure = firstIdentityFailure(identity) { return .fails(failure) }
        // Loops go by index: reading a nested condition or an argument in place, not copying
        // its many sets and matchers.
        guard readsArguments else {
            for index in negated.indices where negated[index].evaluate(identity, arguments) == .holds { return .fails(.not) }
            return .holds
        }
        var unknown = false
        for index in self.arguments.indices {
            switch self.arguments[index].evaluate(arguments, caller: identity) {
            case .holds: continue
            case .fails: return .fails(.arguments)
            case .unknown: unknown = true
            }
        }
        for index in negated.indices {
            switch negated[index].evaluate(identity, arguments) {
            case .holds: return .fails(.not)
            case .fails: continue
            case .unknown: unknown = true
            }
        }
        return unknown ? .unknown : .holds
    }

    /// The first identity key (every key but `arguments` and `not`) that does not hold.
    private func firstIdentityFailure(_ identity: Identity) -> Key? {
        // Optional chaining reads the sets in place; `if let` would copy each one.
        if issuers?.contains(identity.issuerID) == false { return .issuers }
        if scopes?.isSubset(of: identity.scopes) == false { return .scopes }
        if anyScopes?.isDisjoint(with: identity.scopes) == true { return .anyScopes }
        if emails != nil {
            guard let email = identity.usableEmail, emails!.contains(email) else { return .emails }
        }
        if emailDomains != nil {
            guard let domain = identity.emailDomain, emailDomains!.contains(domain) else { return .emailDomains }
        }
        if subjects != nil {
            guard let subject = identity.subject, subjects!.contains(subject) else { return .subjects }
        }
        if clients != nil {
            guard let client = identity.clientID, clients!.contains(client) else { return .clients }
        }
        if groups?.isDisjoint(with: identity.groups) == true { return .groups }
        for claim in claims where !Self.claimHolds(claim.path, claim.values, in: identity.claims) { return .claims }
        return nil
    }

    /// A claim holds when its value, or any element of an array value, equals an expected value.
    static func claimHolds(_ path: String, _ expected: [ClaimValue], in claims: [String: ClaimValue]) -> Bool {
        guard let actual = ClaimValue.lookup(path, in: claims) else { return false }
        let candidates: [ClaimValue]
        if case let .array(items) = actual { candidates = items } else { candidates = [actual] }
        return candidates.contains { candidate in expected.contains { $0.matches(candidate) } }
    }

    /// The one identity attribute used to index this rule, with its values: the rule can only
    /// match callers with one of them. The most selective attribute present is chosen.
    var indexKey: (attribute: IdentityAttribute, values: [String])? {
        if let emails { return (.email, emails.elements) }
        if let subjects { return (.subject, subjects.elements) }
        if let clients { return (.client, clients.elements) }
        if let groups { return (.group, groups.elements) }
        if let emailDomains { return (.emailDomain, emailDomains.elements) }
        return nil
    }

    /// Whether the identity has what the scope parts of this condition ask for.
    func hasScopes(of identity: Identity) -> Bool {
        scopes?.isSubset(of: identity.scopes) != false && anyScopes?.isDisjoint(with: identity.scopes) != true
    }

    /// Scopes that, added to the identity's, would satisfy the scope parts of this condition.
    func missingScopes(for identity: Identity) -> Set<String> {
        var missing = Set(scopes?.elements ?? []).subtracting(identity.scopes)
        if let anyScopes, anyScopes.isDisjoint(with: identity.scopes), let first = anyScopes.elements.sorted().first {
            missing.insert(first)
        }
        return missing
    }
}

/// Identity attributes rules are indexed by.
enum IdentityAttribute: Sendable, CaseIterable {
    case email
    case subject
    case client
    case group
    case emailDomain
}
