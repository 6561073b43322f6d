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
    /// Asymmetric JWS algorithms; `none` and every HMAC algorithm are refused by design.
    package static let supportedAlgorithms = [
        "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
    ]
}
