/// A caller as a verified token describes it, already normalized for fast matching.
package struct Identity: Sendable {
    /// Id of the policy issuer whose key verified the token.
    package var issuerID: String
    package var subject: String?
    /// The email with its domain lower-cased, whatever its verification state.
    package var email: String?
    package var emailVerified: Bool?
    /// The email conditions may use: present only when verified or the issuer does not require it.
    package var usableEmail: String?
    /// The lower-cased domain of `usableEmail`.
    package var emailDomain: String?
    package var clientID: String?
    package var scopes: Set<String>
    package var groups: Set<String>
    package var claims: [String: ClaimValue]

    package init(
        issuerID: String, subject: String? = nil, email: String? = nil, emailVerified: Bool? = nil,
        requireEmailVerified: Bool = false, clientID: String? = nil, scopes: Set<String> = [],
        groups: Set<String> = [], claims: [String: ClaimValue] = [:]
    ) {
        self.issuerID = issuerID
        self.subject = subject
        self.email = email.flatMap(EmailAddress.normalized)
        self.emailVerified = emailVerified
        self.usableEmail = (requireEmailVerified && emailVerified != true) ? nil : self.email
        self.emailDomain = usableEmail.flatMap(EmailAddress.domain(of:)).map(String.init)
        self.clientID = clientID
        self.scopes = scopes
        self.groups = groups
        self.claims = claims
    }
}

extension Identity {
    /// The identity a verified token's claims describe, read as its issuer is configured:
    /// scopes from every configured scope claim, email from the email claim, the client from
    /// `azp` or `client_id`, groups from the groups claim (a dotted path is allowed).
    package init(claims: [String: ClaimValue], issuer: IssuerConfig) {
        var scopes = Set<String>()
        for claim in issuer.scopeClaims {
            if let value = ClaimValue.lookup(claim, in: claims) { scopes.formUnion(value.stringSet) }
        }
        let emailVerified: Bool?
        switch claims["email_verified"] {
        case let .bool(value)?: emailVerified = value
        // Some providers (older Cognito, some Entra setups) send the flag as a string.
        case let .string(text)?: emailVerified = text == "true"
        default: emailVerified = nil
        }
        self.init(
            issuerID: issuer.id.value,
            subject: claims["sub"]?.stringValue,
            email: ClaimValue.lookup(issuer.emailClaim, in: claims)?.stringValue,
            emailVerified: emailVerified,
            requireEmailVerified: issuer.requireEmailVerified,
            clientID: claims["azp"]?.stringValue ?? claims["client_id"]?.stringValue,
            scopes: scopes,
            groups: Set(ClaimValue.lookup(issuer.groupsClaim, in: claims)?.stringSet ?? []),
            claims: claims
        )
    }
}
