import JWTKit
import MCPAuthzPolicy

/// A token that passed every check, and the identity it carries.
package struct VerifiedToken: Sendable {
    package var identity: Identity
    package var issuerID: String
    package var kid: String?
    /// `exp`, in seconds since 1970; a cache of verified tokens may keep this one until then.
    package var expiresAt: Double
    /// The generation of the issuer's keys that verified it: a cached token counts as verified
    /// only while its issuer serves the same keys.
    package var keyGeneration = 0
    /// Whether the issuer's introspection endpoint vouched for it (no keys involved).
    package var introspected = false

    package init(identity: Identity, issuerID: String, kid: String?, expiresAt: Double) {
        self.identity = identity
        self.issuerID = issuerID
        self.kid = kid
        self.expiresAt = expiresAt
    }
}

/// Turns a bearer token into a verified identity for one server, or a precise reason why not.
///
/// Pure and synchronous: the policy, the issuers' keys and the time are passed in, so it can be
/// tested exactly and called on the request path without waiting on anything. Checks, in order:
/// shape and size, algorithm (never `none` or HMAC), critical headers, `iss` against the policy,
/// the server accepting that issuer, the issuer's algorithm allowlist and token types, the key by
/// `kid` (no fallback key), the signature, `exp`/`nbf`/`iat` with the issuer's leeway, and `aud`
/// against the server's resource and audiences.
package struct TokenVerifier: Sendable {
    package var maxTokenBytes: Int

    package init(maxTokenBytes: Int = 16 * 1024) {
        self.maxTokenBytes = maxTokenBytes
    }

    package func verify(
        _ token: String, for server: ServerConfig, in snapshot: PolicySnapshot, keys: (String) -> IssuerKeys?, now: Double
    ) throws(TokenFailure) -> VerifiedToken {
        let jws = try CompactJWS.parse(token, limits: CompactJWS.Limits(maxTokenBytes: maxTokenBytes))
        try Self.checkHeader(jws.header, sharedSecretPossible: true)
        let claims = try jws.claims()
        guard case let .string(iss)? = claims["iss"] else {
            throw TokenFailure(.claimsInvalid, "token has no iss")
        }
        guard let issuer = snapshot.issuersByURL[iss] else {
            throw TokenFailure(.issuerUntrusted, "iss is not a configured issuer")
        }
        let issuerID = issuer.id.value
        let alg = jws.header.alg
        let kid = jws.header.kid
        func failure(_ reason: TokenFailure.Reason, _ message: String) -> TokenFailure {
            TokenFailure(reason, message, issuerID: issuerID, kid: kid)
        }
        guard server.issuers.contains(where: { $0.value == issuerID }) else {
            throw failure(.issuerUntrusted, "server '\(server.id.value)' does not accept tokens from issuer '\(issuerID)'")
        }
        // HMAC only from an issuer whose keys are a shared secret: never with a public key as
        // the secret (the classic key confusion), whatever its algorithm list says.
        if alg.uppercased().hasPrefix("HS"), !issuer.usesSharedSecret {
            throw failure(.algorithmNotAllowed, "shared-secret algorithm \(alg) is accepted only from an issuer with secret_file")
        }
        guard issuer.algorithms.contains(where: { $0.value == alg }) else {
            throw failure(.algorithmNotAllowed, "issuer '\(issuerID)' does not allow \(alg)")
        }
        if !issuer.tokenTypes.isEmpty {
            let typ = jws.header.typ.map(Self.normalizedType)
            guard let typ, issuer.tokenTypes.map(Self.normalizedType).contains(typ) else {
                throw failure(.tokenTypeNotAllowed, "typ \(jws.header.typ ?? "(none)") is not one of \(issuer.tokenTypes.joined(separator: ", "))")
            }
        }
        guard let issuerKeys = keys(issuerID), !issuerKeys.isEmpty else {
            throw failure(.jwksUnavailable, "no keys are available for issuer '\(issuerID)'")
        }
        try Self.checkSignature(of: jws, with: issuerKeys, named: "issuer '\(issuerID)'", failure: failure)

        let leeway = Double(issuer.leewaySeconds)
        // `expRequired` makes a missing `exp` a refusal, so there is always one here.
        let exp = try checkTimes(claims, leeway: leeway, now: now, expRequired: true, failure: failure) ?? 0
        try checkAudience(claims, for: server, failure: failure)
        return VerifiedToken(
            identity: Identity(claims: claims, issuer: issuer), issuerID: issuerID, kid: kid, expiresAt: exp
        )
    }

    /// The claims of an active introspection answer (RFC 7662 §2.2) for one server: checked as a
    /// JWT's claims are once its signature verifies, except that `exp` may be absent (the answer
    /// is then trusted only for the cache bound). An `iss` other than the issuer's is refused;
    /// an answer without one is the issuer's, and says so in its claims.
    package func verifyIntrospected(
        _ answer: [String: ClaimValue], issuer: IssuerConfig, for server: ServerConfig, trustedUntil: Double, now: Double
    ) throws(TokenFailure) -> VerifiedToken {
        let issuerID = issuer.id.value
        func failure(_ reason: TokenFailure.Reason, _ message: String) -> TokenFailure {
            TokenFailure(reason, message, issuerID: issuerID)
        }
        var claims = answer
        claims["active"] = nil
        switch claims["iss"] {
        case nil: claims["iss"] = .string(issuer.issuer.value)
        case .string(issuer.issuer.value)?: break
        default: throw failure(.issuerUntrusted, "the introspection answer names another issuer")
        }
        guard server.issuers.contains(where: { $0.value == issuerID }) else {
            throw failure(.issuerUntrusted, "server '\(server.id.value)' does not accept tokens from issuer '\(issuerID)'")
        }
        let expiresAt = try checkTimes(claims, leeway: Double(issuer.leewaySeconds), now: now, expRequired: false, failure: failure)
        try checkAudience(claims, for: server, failure: failure)
        var verified = VerifiedToken(
            identity: Identity(claims: claims, issuer: issuer), issuerID: issuerID, kid: nil, expiresAt: min(expiresAt ?? trustedUntil, trustedUntil)
        )
        verified.introspected = true
        return verified
    }

    /// `exp` (required unless `expRequired` is false), `nbf` and `iat` with the leeway.
    /// - Returns: `exp`, when present.
    private func checkTimes(
        _ claims: [String: ClaimValue], leeway: Double, now: Double, expRequired: Bool, failure: (TokenFailure.Reason, String) -> TokenFailure
    ) throws(TokenFailure) -> Double? {
        var expiresAt: Double?
        if let value = claims["exp"] {
            guard let exp = Self.seconds(value) else {
                throw failure(.claimsInvalid, "exp \(expRequired ? "is required and " : "")must be a number of seconds from 1970 to 9999")
            }
            if now > exp + leeway { throw failure(.tokenExpired, "token expired") }
            expiresAt = exp
        } else if expRequired {
            throw failure(.claimsInvalid, "exp is required and must be a number of seconds from 1970 to 9999")
        }
        if let value = claims["nbf"] {
            guard let nbf = Self.seconds(value) else { throw failure(.claimsInvalid, "nbf must be a number of seconds from 1970 to 9999") }
            if nbf > now + leeway { throw failure(.tokenNotYetValid, "token is not valid before its nbf") }
        }
        if let value = claims["iat"] {
            guard let iat = Self.seconds(value) else { throw failure(.claimsInvalid, "iat must be a number of seconds from 1970 to 9999") }
            if iat > now + leeway { throw failure(.tokenNotYetValid, "token was issued in the future") }
        }
        return expiresAt
    }

    /// `aud` names the server's resource or one of its audiences.
    private func checkAudience(
        _ claims: [String: ClaimValue], for server: ServerConfig, failure: (TokenFailure.Reason, String) -> TokenFailure
    ) throws(TokenFailure) {
        let accepted = Set((server.resource.map { [$0.value] } ?? []) + server.audiences.map(\.value))
        let audiences: [String]
        switch claims["aud"] {
        case let .string(aud)?: audiences = [aud]
        case let .array(items)?: audiences = items.compactMap(\.stringValue)
        default: audiences = []
        }
        guard audiences.contains(where: accepted.contains) else {
            throw failure(.audienceMismatch, "aud does not name server '\(server.id.value)'")
        }
    }

    /// The signature stage alone, for any compact JWS (its payload need not be claims): the
    /// header checks, the algorithm allowlist, then `checkSignature`, exactly as `verify` runs
    /// them. Used to run standard test vectors, whose payloads are mostly not JWT claims.
    /// - Returns: the verified payload.
    package static func verifySignature(_ token: String, keys: IssuerKeys, algorithms: [String]) throws(TokenFailure) -> [UInt8] {
        let jws = try CompactJWS.parse(token)
        try checkHeader(jws.header, sharedSecretPossible: false)
        guard algorithms.contains(jws.header.alg) else {
            throw TokenFailure(.algorithmNotAllowed, "\(jws.header.alg) is not allowed")
        }
        guard !keys.isEmpty else { throw TokenFailure(.jwksUnavailable, "no keys") }
        try checkSignature(of: jws, with: keys, named: "the key set") { reason, message in
            TokenFailure(reason, message, kid: jws.header.kid)
        }
        return jws.payload
    }

    /// What no issuer may configure away: unsigned tokens, shared-secret algorithms where no
    /// issuer could have a secret (`sharedSecretPossible` false; else the issuer decides, after
    /// `iss` is known), and critical header extensions (mcp-authz understands none).
    static func checkHeader(_ header: CompactJWS.Header, sharedSecretPossible: Bool) throws(TokenFailure) {
        let alg = header.alg.uppercased()
        if alg == "NONE" {
            throw TokenFailure(.algorithmNotAllowed, "unsigned tokens (alg none) are never accepted")
        }
        if alg.hasPrefix("HS"), !sharedSecretPossible {
            throw TokenFailure(.algorithmNotAllowed, "shared-secret algorithm \(header.alg) is never accepted here")
        }
        if let crit = header.crit {
            throw TokenFailure(.tokenMalformed, "critical header extensions \(crit) are not understood")
        }
    }

    /// The key named by `kid` (or the only key, when the token names none), bound to the
    /// token's algorithm, must verify the signature over the signing input. No fallback key.
    static func checkSignature(
        of jws: CompactJWS, with keys: IssuerKeys, named owner: String, failure: (TokenFailure.Reason, String) -> TokenFailure
    ) throws(TokenFailure) {
        let keyID: String
        if let kid = jws.header.kid {
            guard keys.hasKey(kid: kid) else { throw failure(.unknownKid, "\(owner) has no key with this kid") }
            keyID = kid
        } else {
            guard let sole = keys.soleKid else {
                throw failure(.kidMissing, "token has no kid and \(owner) has several keys")
            }
            keyID = sole
        }
        guard let verifier = keys.verifier(kid: keyID, algorithm: jws.header.alg) else {
            throw failure(.algorithmNotAllowed, "key '\(keyID)' of \(owner) is not for \(jws.header.alg)")
        }
        let valid = (try? verifier.verify(jws.signature, signs: jws.signingInput)) ?? false
        guard valid else { throw failure(.signatureInvalid, "signature does not verify with key '\(keyID)'") }
    }

    /// `at+jwt` and `application/at+jwt` are the same type (RFC 7515 §4.1.9); compared case-insensitively.
    static func normalizedType(_ typ: String) -> String {
        let lower = typ.asciiLowercased()
        return lower.hasPrefix("application/") ? String(lower.dropFirst("application/".count)) : lower
    }

    /// A NumericDate: a JSON number, never a string, naming a time from 1970 to the end of
    /// year 9999. A number beyond that is no date any issuer means (an `exp` of 1e30 would keep a
    /// token valid, and cached, for ever) and is refused as invalid claims.
    static func seconds(_ value: ClaimValue) -> Double? {
        let seconds: Double
        switch value {
        case let .integer(i): seconds = Double(i)
        case let .number(d): seconds = d
        default: return nil
        }
        return (0...latestDate).contains(seconds) ? seconds : nil
    }

    /// 9999-12-31T23:59:59Z.
    static let latestDate: Double = 253_402_300_799
}
