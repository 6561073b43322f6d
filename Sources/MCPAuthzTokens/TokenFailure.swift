/// Why a bearer token was not accepted: a stable reason code for answers, metrics, the audit log
/// and tests, and a sentence for people. Never contains the token.
package struct TokenFailure: Error, Sendable, Equatable, CustomStringConvertible {
    package enum Reason: String, Sendable, CaseIterable {
        /// No token in the request.
        case tokenMissing = "token_missing"
        /// Larger than the configured bound.
        case tokenTooLarge = "token_too_large"
        /// Not a compact JWS with a JSON header and payload.
        case tokenMalformed = "token_malformed"
        /// `alg` is `none`, HMAC, or not in the issuer's allowlist.
        case algorithmNotAllowed = "algorithm_not_allowed"
        /// `iss` names no configured issuer.
        case issuerUntrusted = "issuer_untrusted"
        /// The JOSE `typ` is not one the issuer requires (RFC 9068 `at+jwt`).
        case tokenTypeNotAllowed = "token_type_not_allowed"
        /// No `kid` while the issuer publishes more than one key.
        case kidMissing = "kid_missing"
        /// `kid` names no key of the issuer.
        case unknownKid = "unknown_kid"
        /// The signature does not verify with the issuer's key.
        case signatureInvalid = "signature_invalid"
        /// `exp` is past, beyond the leeway.
        case tokenExpired = "token_expired"
        /// `nbf` or `iat` is in the future, beyond the leeway.
        case tokenNotYetValid = "token_not_yet_valid"
        /// A registered claim is missing or of the wrong type (`exp` is required).
        case claimsInvalid = "claims_invalid"
        /// `aud` names neither the server's resource nor one of its audiences.
        case audienceMismatch = "audience_mismatch"
        /// The issuer's keys could not be obtained.
        case jwksUnavailable = "jwks_unavailable"
        /// The issuer's introspection endpoint says the token is not active (RFC 7662).
        case tokenInactive = "token_inactive"
        /// The issuer's introspection endpoint gave no usable answer (down, slow, an error
        /// status, or a body that is not an RFC 7662 answer): refused, never allowed from memory.
        case introspectionUnavailable = "introspection_unavailable"
        /// A DPoP-bound token (`cnf.jkt`) sent without a proof, or as Bearer (RFC 9449 §7).
        case dpopProofMissing = "dpop_proof_missing"
        /// The proof is not a valid DPoP JWT: shape, `typ`, `alg`, `jwk` (absent, private,
        /// unusable), signature, claims, several `DPoP` headers, or DPoP for an issuer with it off.
        case dpopProofInvalid = "dpop_proof_invalid"
        /// The proof's key is not the one the token is bound to (or the token is bound to none).
        case dpopKeyMismatch = "dpop_key_mismatch"
        /// The proof's `ath` is missing or not the hash of the token.
        case dpopAthMismatch = "dpop_ath_mismatch"
        /// The proof's `htm` is not the request's method.
        case dpopMethodMismatch = "dpop_method_mismatch"
        /// The proof's `htu` is not the request's URL (or that URL is not known).
        case dpopURLMismatch = "dpop_url_mismatch"
        /// The proof's `iat` is outside the accepted window.
        case dpopProofStale = "dpop_proof_stale"
        /// The proof's `jti` was seen before within the window.
        case dpopProofReplayed = "dpop_proof_replayed"
        /// Too many recent proofs are remembered to take a new one safely.
        case dpopReplayCacheFull = "dpop_replay_cache_full"
    }

    package var reason: Reason
    package var message: String
    /// The issuer id, once known.
    package var issuerID: String?
    /// The key id from the header, once known (it is not secret).
    package var kid: String?

    package init(_ reason: Reason, _ message: String, issuerID: String? = nil, kid: String? = nil) {
        self.reason = reason
        self.message = message
        self.issuerID = issuerID
        self.kid = kid
    }

    package var description: String { "\(reason.rawValue): \(message)" }
}
