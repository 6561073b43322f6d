/// A token issuer the policy trusts, and how to read identities out of its tokens.
package struct IssuerConfig: Sendable {
    /// The name rules and servers use to refer to this issuer.
    package var id: Located<String>
    /// The exact `iss` value its tokens carry.
    package var issuer: Located<String>
    /// Where its signing keys are published; when absent, found through OIDC discovery.
    package var jwksURI: Located<String>?
    /// A local JWKS document, for air-gapped setups.
    package var jwksFile: Located<String>?
    /// A file holding the shared secret of an issuer that signs with HMAC (HS256/384/512),
    /// resolved against the policy file's folder once loaded. Never read into the policy: the
    /// key cache reads it, and nothing logs it.
    package var secretFile: Located<String>? = nil
    /// RFC 7662 token introspection: where and as whom this issuer's opaque tokens are checked.
    package var introspection: IntrospectionConfig? = nil
    /// Which tokens of this issuer are verified locally as JWTs and which are introspected.
    package var tokenFormat: TokenFormat = .jwt
    /// Whether this issuer's tokens must, may or may not be sender-constrained (RFC 9449 DPoP).
    package var dpop: DPoPMode = .allowed
    /// Signature algorithms accepted from this issuer.
    package var algorithms: [Located<String>]
    /// Claims scopes are read from, in order; each may be a space-delimited string or an array.
    package var scopeClaims: [String]
    /// The claim holding the caller's email address.
    package var emailClaim: String
    /// When true, an email is only used if `email_verified` is `true` in the token.
    package var requireEmailVerified: Bool
    /// The claim (or dotted path) holding group memberships.
    package var groupsClaim: String
    /// A request header that carries this issuer's token instead of `Authorization`.
    package var tokenHeader: Located<String>?
    /// Clock skew allowed for `exp`, `nbf` and `iat`, in seconds.
    package var leewaySeconds: Int
    /// Accepted JOSE `typ` header values (for example `at+jwt`); empty accepts any.
    package var tokenTypes: [String]
    /// The authorization server advertised in protected-resource metadata; defaults to `issuer`.
    package var authorizationServer: Located<String>?
    package var location: SourceLocation

    package static let defaultAlgorithms = ["RS256"]
    package static let defaultScopeClaims = ["scope", "scp", "permissions"]
    package static let defaultEmailClaim = "email"
    package static let defaultGroupsClaim = "groups"
    package static let defaultLeewaySeconds = 60
    /// Asymmetric JWS algorithms, for issuers with public keys; `none` is refused by design.
    package static let supportedAlgorithms = [
        "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
    ]
    /// HMAC algorithms, only for an issuer with `secret_file`, with the shortest secret each
    /// accepts: as long as its hash (RFC 7518 §3.2).
    package static let sharedSecretAlgorithms: [(name: String, minimumBytes: Int)] = [("HS256", 32), ("HS384", 48), ("HS512", 64)]
    /// The default for an issuer with `secret_file`.
    package static let defaultSharedSecretAlgorithms = ["HS256"]
    /// The largest secret file read.
    package static let maxSecretBytes = 4096

    /// Whether the issuer signs with a shared secret.
    package var usesSharedSecret: Bool { secretFile != nil }
    /// Whether the sidecar needs this issuer's signing keys (an issuer whose tokens are all
    /// introspected has none to fetch).
    package var verifiesJWTs: Bool { tokenFormat != .opaque }
}

/// How an issuer's tokens are bound to the client that presents them (RFC 9449).
package enum DPoPMode: String, Sendable, CaseIterable {
    /// Every token must carry `cnf.jkt` and come with a valid DPoP proof.
    case required
    /// A token with `cnf.jkt` must come with a valid proof; one without may be sent as Bearer.
    case allowed
    /// DPoP is not accepted: `Authorization: DPoP` is refused, and `cnf.jkt` is not enforced.
    case off
}

/// How an issuer's tokens are verified.
package enum TokenFormat: String, Sendable, CaseIterable {
    /// Compact JWS, verified with the issuer's keys (the default without `introspection`).
    case jwt
    /// Any token, sent to the issuer's introspection endpoint (the default with it).
    case opaque
    /// A token that parses as a JWS naming this issuer is verified as a JWT; any other is introspected.
    case both
}

/// Where and how the sidecar asks an issuer whether a token is active (RFC 7662).
package struct IntrospectionConfig: Sendable {
    /// How the sidecar authenticates to the endpoint (RFC 6749 §2.3.1).
    package enum ClientAuth: String, Sendable, CaseIterable {
        /// `Authorization: Basic` with the form-encoded client id and secret.
        case basic
        /// `client_id` and `client_secret` in the request body.
        case post
    }

    /// The endpoint: https, or http on loopback only. Tokens are sent nowhere else.
    package var url: Located<String>
    package var clientID: String
    /// A file holding the client secret, resolved against the policy file's folder once loaded;
    /// read on every call to the endpoint, never kept in the policy and never logged.
    package var clientSecretFile: Located<String>
    package var auth: ClientAuth
}
