import JWTKit
import MCPAuthzPolicy

/// A token that passed every check, and the identity it carries.
package struct VerifiedToken: Sendable {
    package var identity: Identity
    package var issuerID: String
    package var kid: String?
    /// `exp`, in seconds since 1970; a cache of verified tokens may keep this one until then.
    package var expiresAt: Double
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
        let alg = jws.header.alg
        if alg.uppercased() == "NONE" {
            throw TokenFailure(.algorithmNotAllowed, "unsigned tokens (alg none) are never accepted")
        }
        if alg.uppercased().hasPrefix("HS") {
            throw TokenFailure(.algorithmNotAllowed, "shared-secret algorithm \(alg) is never accepted")
        }
        if let crit = jws.header.crit {
            throw TokenFailure(.tokenMalformed, "critical header extensions \(crit) are not understood")
        }
        guard case let .string(iss)? = jws.claims["iss"] else {
            throw TokenFailure(.claimsInvalid, "token has no iss")
        }
        guard let issuer = snapshot.issuersByURL[iss] else {
            throw TokenFailure(.issuerUntrusted, "iss is not a configured issuer")
        }
        let issuerID = issuer.id.value
        let kid = jws.header.kid
        func failure(_ reason: TokenFailure.Reason, _ message: String) -> TokenFailure {
            TokenFailure(reason, message, issuerID: issuerID, kid: kid)
        }
        guard server.issuers.contains(where: { $0.value == issuerID }) else {
            throw failure(.issuerUntrusted, "server '\(server.id.value)' does not accept tokens from issuer '\(issuerID)'")
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
        let keyID: String
        if let kid {
            guard issuerKeys.hasKey(kid: kid) else { throw failure(.unknownKid, "issuer '\(issuerID)' has no key with this kid") }
            keyID = kid
        } else {
            guard let sole = issuerKeys.soleKid else {
                throw failure(.kidMissing, "token has no kid and issuer '\(issuerID)' has several keys")
            }
            keyID = sole
        }
        guard let verifier = issuerKeys.verifier(kid: keyID, algorithm: alg) else {
            throw failure(.algorithmNotAllowed, "key '\(keyID)' of issuer '\(issuerID)' is not for \(alg)")
        }
        let valid = (try? verifier.verify(jws.signature, signs: jws.signingInput)) ?? false
        guard valid else { throw failure(.signatureInvalid, "signature does not verify with key '\(keyID)'") }

        let leeway = Double(issuer.leewaySeconds)
        guard let exp = jws.claims["exp"].flatMap(Self.seconds) else {
            throw failure(.claimsInvalid, "exp is required and must be a number")
        }
        if now > exp + leeway { throw failure(.tokenExpired, "token expired") }
        if let value = jws.claims["nbf"] {
            guard let nbf = Self.seconds(value) else { throw failure(.claimsInvalid, "nbf must be a number") }
            if nbf > now + leeway { throw failure(.tokenNotYetValid, "token is not valid before its nbf") }
        }
        if let value = jws.claims["iat"] {
            guard let iat = Self.seconds(value) else { throw failure(.claimsInvalid, "iat must be a number") }
            if iat > now + leeway { throw failure(.tokenNotYetValid, "token was issued in the future") }
        }
        let accepted = Set((server.resource.map { [$0.value] } ?? []) + server.audiences.map(\.value))
        let audiences: [String]
        switch jws.claims["aud"] {
        case let .string(aud)?: audiences = [aud]
        case let .array(items)?: audiences = items.compactMap(\.stringValue)
        default: audiences = []
        }
        guard audiences.contains(where: accepted.contains) else {
            throw failure(.audienceMismatch, "aud does not name server '\(server.id.value)'")
        }
        return VerifiedToken(
            identity: Identity(claims: jws.claims, issuer: issuer), issuerID: issuerID, kid: kid, expiresAt: exp
        )
    }

    /// `at+jwt` and `application/at+jwt` are the same type (RFC 7515 §4.1.9); compared case-insensitively.
    static func normalizedType(_ typ: String) -> String {
        let lower = typ.asciiLowercased()
        return lower.hasPrefix("application/") ? String(lower.dropFirst("application/".count)) : lower
    }

    /// A NumericDate: a JSON number, never a string.
    static func seconds(_ value: ClaimValue) -> Double? {
        switch value {
        case let .integer(i): return Double(i)
        case let .number(d) where d.isFinite: return d
        default: return nil
        }
    }
}
