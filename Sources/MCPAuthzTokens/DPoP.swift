import Crypto
import Foundation
import MCPAuthzPolicy
import Synchronization
import _CryptoExtras

/// A request's credential as presented: the token, the scheme it came under, and the DPoP
/// proofs and request that scheme binds it to (RFC 9449).
package struct PresentedToken: Sendable {
    package enum Scheme: Sendable {
        case bearer
        case dpop
    }

    package var token: String
    package var scheme: Scheme
    /// Every `DPoP` header value sent (a valid request has exactly one when the scheme is DPoP).
    package var proofs: [String]
    /// The request as the client made it, which a proof must name; nil when unknown.
    package var request: DPoPRequest?

    package init(token: String, scheme: Scheme = .bearer, proofs: [String] = [], request: DPoPRequest? = nil) {
        self.token = token
        self.scheme = scheme
        self.proofs = proofs
        self.request = request
    }
}

/// The method and URL a DPoP proof must name (`htm`, `htu`).
package struct DPoPRequest: Sendable {
    /// Upper-case HTTP method.
    package var method: String
    /// `scheme://host[:port]/path`, without query; nil when the proxy did not say which scheme
    /// the client used (`X-Forwarded-Proto`), so no URL can be compared.
    package var url: String?

    package init(method: String, url: String?) {
        self.method = method
        self.url = url
    }

    /// The URL from the proxy's description: `X-Forwarded-Proto`, the host and the path of the
    /// original URI (its query dropped).
    package static func url(scheme: String?, host: String?, uri: String) -> String? {
        guard let scheme = scheme?.asciiLowercased(), scheme == "http" || scheme == "https", let host, !host.isEmpty else { return nil }
        let path = uri.prefix { $0 != "?" && $0 != "#" }
        return "\(scheme)://\(host)\(path.isEmpty ? "/" : path)"
    }
}

/// Bounds of DPoP proof checking.
package struct DPoPSettings: Sendable {
    /// How old a proof's `iat` may be; a proof from the future is allowed the issuer's leeway.
    package var maxAge: Duration = .seconds(60)
    /// Proof ids remembered to refuse a replay, per replica; when full (after dropping expired
    /// ones) new proofs are refused rather than an id forgotten early.
    package var replayCapacity = 100_000
    package var maxProofBytes = 8 * 1024

    package init() {}
}

/// Checks that a request's DPoP proof binds its token to the key that signed the proof, for
/// this method and URL, now, once (RFC 9449 §4.3, §7). Synchronous: keys are embedded in the
/// proof, so nothing is fetched.
package final class DPoPVerifier: Sendable {
    /// Asymmetric algorithms accepted for proofs; advertised in the `DPoP` challenge.
    package static let algorithms = ["ES256", "ES384", "ES512", "EdDSA", "RS256", "PS256"]

    package let settings: DPoPSettings
    private let seen = Mutex<[SHA256Digest: Double]>([:])

    package init(settings: DPoPSettings = DPoPSettings()) {
        self.settings = settings
    }

    /// Whether the request may use its verified token under the issuer's `dpop` mode; throws
    /// the refusal. A proof is checked only when the token is bound (`cnf.jkt`) or the client
    /// chose the DPoP scheme.
    package func check(
        _ presented: PresentedToken, token: VerifiedToken, mode: DPoPMode, leeway: Double, now: Double
    ) throws(TokenFailure) {
        let issuerID = token.issuerID
        func failure(_ reason: TokenFailure.Reason, _ message: String) -> TokenFailure {
            TokenFailure(reason, message, issuerID: issuerID)
        }
        let jkt: String?
        switch token.identity.claims["cnf"] {
        case nil: jkt = nil
        case let .object(confirmation)?:
            switch confirmation["jkt"] {
            case nil: jkt = nil
            case let .string(thumbprint)?: jkt = thumbprint
            default: throw failure(.dpopKeyMismatch, "cnf.jkt is not a string")
            }
        default: throw failure(.dpopKeyMismatch, "cnf is not a JSON object")
        }
        switch mode {
        case .off:
            if presented.scheme == .dpop { throw failure(.dpopProofInvalid, "issuer '\(issuerID)' does not accept DPoP (dpop: off)") }
            return
        case .required:
            guard jkt != nil else { throw failure(.dpopKeyMismatch, "issuer '\(issuerID)' requires DPoP and the token has no cnf.jkt") }
        case .allowed:
            if jkt == nil, presented.scheme == .bearer { return }
        }
        guard let jkt else { throw failure(.dpopKeyMismatch, "Authorization: DPoP with a token that is not bound to a key (no cnf.jkt)") }
        guard presented.scheme == .dpop else {
            throw failure(.dpopProofMissing, "a DPoP-bound token (cnf.jkt) must be sent as Authorization: DPoP with a DPoP proof")
        }
        guard presented.proofs.count == 1, let text = presented.proofs.first else {
            throw presented.proofs.isEmpty
                ? failure(.dpopProofMissing, "Authorization: DPoP without a DPoP header")
                : failure(.dpopProofInvalid, "more than one DPoP header")
        }
        let proof: DPoPProof
        do throws(DPoPProof.Problem) {
            proof = try DPoPProof(text, maxBytes: settings.maxProofBytes)
        } catch {
            throw failure(.dpopProofInvalid, error.message)
        }
        guard proof.thumbprint == jkt else { throw failure(.dpopKeyMismatch, "the proof's key is not the key the token is bound to") }
        guard proof.ath == Base64URL.encode(Array(SHA256.hash(data: Array(presented.token.utf8)))) else {
            throw failure(.dpopAthMismatch, proof.ath == nil ? "the proof has no ath" : "the proof's ath is not the hash of this token")
        }
        guard let request = presented.request else { throw failure(.dpopURLMismatch, "the request's method and URL are not known") }
        guard proof.htm == request.method else { throw failure(.dpopMethodMismatch, "the proof is for another HTTP method") }
        guard let url = request.url else {
            throw failure(.dpopURLMismatch, "the proxy sent no X-Forwarded-Proto, so the request's URL is not known")
        }
        guard let htu = Self.normalized(proof.htu), htu == Self.normalized(url) else {
            throw failure(.dpopURLMismatch, "the proof is for another URL")
        }
        let maxAge = settings.maxAge.inSeconds
        guard proof.iat >= now - maxAge, proof.iat <= now + leeway else {
            throw failure(.dpopProofStale, "the proof's iat is outside the accepted window")
        }
        try remember(proof.jti, key: jkt, until: proof.iat + maxAge + leeway, now: now, failure: failure)
    }

    /// Remembers a proof id until it could no longer be accepted; refuses one seen before.
    private func remember(
        _ jti: String, key: String, until: Double, now: Double, failure: (TokenFailure.Reason, String) -> TokenFailure
    ) throws(TokenFailure) {
        let digest = SHA256.hash(data: Array((key + " " + jti).utf8))
        let refusal = seen.withLock { seen -> TokenFailure.Reason? in
            if let expiry = seen[digest], expiry >= now { return .dpopProofReplayed }
            if seen.count >= settings.replayCapacity {
                seen = seen.filter { $0.value >= now }
                if seen.count >= settings.replayCapacity { return .dpopReplayCacheFull }
            }
            seen[digest] = until
            return nil
        }
        switch refusal {
        case .dpopProofReplayed?: throw failure(.dpopProofReplayed, "this proof (its jti) was used before")
        case let reason?: throw failure(reason, "\(settings.replayCapacity) recent proofs are remembered already")
        case nil: return
        }
    }

    /// RFC 9449 §4.3 step 9: scheme and host compared case-insensitively, the default port
    /// dropped, query and fragment ignored. nil for anything but an absolute http(s) URL.
    static func normalized(_ url: String) -> String? {
        guard let parts = WebOrigin.split(url) else { return nil }
        let path = parts.rest.prefix { $0 != "?" && $0 != "#" }
        return parts.origin + (path.isEmpty ? "/" : path)
    }
}

/// A DPoP proof JWT (RFC 9449 §4.2), parsed and its signature verified with its own key.
struct DPoPProof {
    struct Problem: Error {
        var message: String
        init(_ message: String) { self.message = message }
    }

    var jti: String
    var htm: String
    var htu: String
    var iat: Double
    var ath: String?
    /// The RFC 7638 SHA-256 thumbprint of the proof's key, base64url.
    var thumbprint: String

    init(_ text: String, maxBytes: Int) throws(Problem) {
        let jws: CompactJWS
        do throws(TokenFailure) {
            jws = try CompactJWS.parse(text, limits: CompactJWS.Limits(maxTokenBytes: maxBytes))
        } catch {
            throw Problem("not a compact JWS: \(error.message)")
        }
        guard jws.header.typ.map(TokenVerifier.normalizedType) == "dpop+jwt" else { throw Problem("typ is not dpop+jwt") }
        guard DPoPVerifier.algorithms.contains(jws.header.alg) else { throw Problem("alg \(jws.header.alg) is not accepted for proofs") }
        guard jws.header.crit == nil else { throw Problem("critical header extensions are not understood") }
        guard let jwk = jws.header.jwk else { throw Problem("no jwk header") }
        let privateMembers = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"]
        if let member = privateMembers.first(where: { jwk[$0] != nil }) { throw Problem("the jwk holds private key material ('\(member)')") }
        thumbprint = try Self.thumbprint(jwk)
        guard try Self.verify(jws, with: jwk) else { throw Problem("the signature does not verify with the proof's jwk") }
        let claims: [String: ClaimValue]
        do throws(TokenFailure) {
            claims = try jws.claims()
        } catch {
            throw Problem("claims: \(error.message)")
        }
        guard case let .string(jti)? = claims["jti"], (1...256).contains(jti.utf8.count) else {
            throw Problem("jti must be a string of 1 to 256 bytes")
        }
        guard case let .string(htm)? = claims["htm"] else { throw Problem("htm must be a string") }
        guard case let .string(htu)? = claims["htu"] else { throw Problem("htu must be a string") }
        guard let iat = claims["iat"].flatMap(TokenVerifier.seconds) else { throw Problem("iat must be a number of seconds") }
        switch claims["ath"] {
        case nil: ath = nil
        case let .string(value)?: ath = value
        default: throw Problem("ath must be a string")
        }
        (self.jti, self.htm, self.htu, self.iat) = (jti, htm, htu, iat)
    }

    /// RFC 7638: the required members of the key, in lexicographic order, no white space.
    static func thumbprint(_ jwk: [String: ClaimValue]) throws(Problem) -> String {
        guard case let .string(kty)? = jwk["kty"] else { throw Problem("the jwk has no kty") }
        let members: [String]
        switch kty {
        case "EC": members = ["crv", "kty", "x", "y"]
        case "OKP": members = ["crv", "kty", "x"]
        case "RSA": members = ["e", "kty", "n"]
        default: throw Problem("jwk kty \(kty) is not EC, OKP or RSA")
        }
        var canonical = "{"
        for (index, member) in members.enumerated() {
            guard case let .string(value)? = jwk[member], value.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != 0x22 && $0 != 0x5C })
            else { throw Problem("jwk member \(member) is missing or not a plain string") }
            canonical += (index == 0 ? "" : ",") + "\"\(member)\":\"\(value)\""
        }
        canonical += "}"
        return Base64URL.encode(Array(SHA256.hash(data: Array(canonical.utf8))))
    }

    /// The proof's signature against its own key, for the key type its algorithm needs.
    static func verify(_ jws: CompactJWS, with jwk: [String: ClaimValue]) throws(Problem) -> Bool {
        func member(_ name: String, bytes: Int? = nil) throws(Problem) -> [UInt8] {
            guard case let .string(text)? = jwk[name], let value = Base64URL.decode(Array(text.utf8)[...]),
                bytes == nil || value.count == bytes
            else { throw Problem("jwk member \(name) is not a base64url value of the right size") }
            return value
        }
        func curve(_ expected: String, kty: String = "EC") throws(Problem) {
            guard jwk["kty"] == .string(kty), jwk["crv"] == .string(expected) else {
                throw Problem("alg \(jws.header.alg) needs a \(kty) key on \(expected)")
            }
        }
        let (input, signature) = (jws.signingInput, jws.signature)
        do {
            switch jws.header.alg {
            case "ES256":
                try curve("P-256")
                let key = try P256.Signing.PublicKey(rawRepresentation: try member("x", bytes: 32) + member("y", bytes: 32))
                return key.isValidSignature(try P256.Signing.ECDSASignature(rawRepresentation: signature), for: input)
            case "ES384":
                try curve("P-384")
                let key = try P384.Signing.PublicKey(rawRepresentation: try member("x", bytes: 48) + member("y", bytes: 48))
                return key.isValidSignature(try P384.Signing.ECDSASignature(rawRepresentation: signature), for: input)
            case "ES512":
                try curve("P-521")
                let key = try P521.Signing.PublicKey(rawRepresentation: try member("x", bytes: 66) + member("y", bytes: 66))
                return key.isValidSignature(try P521.Signing.ECDSASignature(rawRepresentation: signature), for: input)
            case "EdDSA":
                try curve("Ed25519", kty: "OKP")
                return try Curve25519.Signing.PublicKey(rawRepresentation: try member("x", bytes: 32)).isValidSignature(signature, for: input)
            case "RS256", "PS256":
                guard jwk["kty"] == .string("RSA") else { throw Problem("alg \(jws.header.alg) needs an RSA key") }
                // At least 2048 bits, or the key is refused.
                let key = try _RSA.Signing.PublicKey(n: try member("n"), e: try member("e"))
                let padding: _RSA.Signing.Padding = jws.header.alg == "PS256" ? .PSS : .insecurePKCS1v1_5
                return key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature), for: SHA256.hash(data: input), padding: padding)
            default:
                return false
            }
        } catch let problem as Problem {
            throw problem
        } catch {
            throw Problem("the jwk or the signature is not a valid \(jws.header.alg) key or signature")
        }
    }
}
