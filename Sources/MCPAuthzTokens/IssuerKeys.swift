import Crypto
import Foundation
import JWTKit
import MCPAuthzPolicy

/// The verification keys of one issuer, built once from a JWKS document and then only read.
///
/// Keys are looked up by `kid` and algorithm here, never through jwt-kit's key collection at
/// verification time, so there is no default key for a token with an unknown or missing `kid`
/// to fall back on.
package struct IssuerKeys: Sendable {
    /// kid -> algorithm name -> verifier.
    private let verifiers: [String: [String: any JWTAlgorithm]]
    /// A shared secret is one key whatever `kid` a token names (issuers that sign with one put
    /// any label there, or none).
    private let anyKid: Bool
    /// Keys of the document that were left out, with why (for logs; never fatal).
    package let skipped: [String]

    package var kids: [String] { verifiers.keys.sorted() }
    package var isEmpty: Bool { verifiers.isEmpty }

    /// Smallest RSA modulus accepted, in bits.
    package static let minimumRSABits = 2048

    /// The kid given to the only key of a document whose key has none.
    static let anonymousKid = ""

    init(verifiers: [String: [String: any JWTAlgorithm]], skipped: [String], anyKid: Bool = false) {
        self.verifiers = verifiers
        self.skipped = skipped
        self.anyKid = anyKid
    }

    /// The keys of an issuer that signs with a shared secret: HMAC verifiers for each of its
    /// algorithms the secret is long enough for.
    package static func sharedSecret(_ secret: [UInt8], algorithms: [String]) -> IssuerKeys {
        var byAlgorithm: [String: any JWTAlgorithm] = [:]
        var skipped: [String] = []
        for (name, minimum) in IssuerConfig.sharedSecretAlgorithms where algorithms.contains(name) {
            guard secret.count >= minimum else {
                skipped.append("the secret is shorter than \(name) needs (\(minimum) bytes): \(name) refused")
                continue
            }
            byAlgorithm[name] = SharedSecretVerifier(name: name, secret: secret)
        }
        return IssuerKeys(verifiers: byAlgorithm.isEmpty ? [:] : [anonymousKid: byAlgorithm], skipped: skipped, anyKid: true)
    }

    package func verifier(kid: String, algorithm: String) -> (any JWTAlgorithm)? {
        verifiers[anyKid ? Self.anonymousKid : kid]?[algorithm]
    }

    /// Whether the key for `kid` and `algorithm` verifies the signature; nil when there is none.
    package func verify(_ signature: [UInt8], signs input: [UInt8], kid: String, algorithm: String) -> Bool? {
        verifier(kid: kid, algorithm: algorithm).map { (try? $0.verify(signature, signs: input)) ?? false }
    }

    func hasKey(kid: String) -> Bool { anyKid ? !verifiers.isEmpty : verifiers[kid] != nil }

    /// The kid to use for a token without one: allowed only when the issuer has a single key.
    var soleKid: String? { verifiers.count == 1 ? verifiers.keys.first : nil }

    /// Reads a JWKS document. Keys for encryption (`use: enc`), of unsupported types, with
    /// private parts, too weak, or malformed are skipped with a note; the document fails only
    /// when it is not a JWKS at all.
    package static func load(jwks data: Data, algorithms: [String], maxKeys: Int = 100) async throws(JWKSDocumentError) -> IssuerKeys {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let keys = object["keys"] as? [[String: Any]]
        else {
            throw JWKSDocumentError(message: "not a JWKS document (a JSON object with a 'keys' array)")
        }
        guard keys.count <= maxKeys else {
            throw JWKSDocumentError(message: "JWKS has \(keys.count) keys, more than the limit of \(maxKeys)")
        }
        var verifiers: [String: [String: any JWTAlgorithm]] = [:]
        var skipped: [String] = []
        for (position, key) in keys.enumerated() {
            let kid = key["kid"] as? String ?? (keys.count == 1 ? anonymousKid : nil)
            let label = (key["kid"] as? String).map { "key '\($0)'" } ?? "key #\(position + 1)"
            guard let kid else {
                skipped.append("\(label): no kid in a document with several keys")
                continue
            }
            if let use = key["use"] as? String, use != "sig" {
                skipped.append("\(label): use '\(use)' is not for signatures")
                continue
            }
            if key["d"] != nil {
                skipped.append("\(label): contains a private key, refused")
                continue
            }
            guard let kty = key["kty"] as? String else {
                skipped.append("\(label): no kty")
                continue
            }
            let candidates = compatibleAlgorithms(kty: kty, crv: key["crv"] as? String, declared: key["alg"] as? String)
                .filter(algorithms.contains)
            if candidates.isEmpty {
                skipped.append("\(label): kty \(kty) fits none of the allowed algorithms \(algorithms.joined(separator: ", "))")
                continue
            }
            if kty == "RSA", let n = key["n"] as? String, let modulus = Base64URL.decode(Array(n.utf8)[...]) {
                let bits = modulus.drop { $0 == 0 }.count * 8
                if bits < minimumRSABits {
                    skipped.append("\(label): RSA key of \(bits) bits is below the minimum of \(minimumRSABits)")
                    continue
                }
            }
            var keyCopy = key
            keyCopy["kid"] = kid.isEmpty ? "_" : kid
            // A JWK without `alg` may serve several algorithms; jwt-kit binds a key to the
            // first algorithm asked of it, so each algorithm gets its own collection.
            var perAlgorithm: [String: any JWTAlgorithm] = [:]
            for algorithm in candidates {
                do {
                    let jwk = try JSONDecoder().decode(JWK.self, from: JSONSerialization.data(withJSONObject: keyCopy))
                    let collection = JWTKeyCollection()
                    try await collection.add(jwk: jwk)
                    let verifier = try await collection.getKey(for: jwk.keyIdentifier, alg: algorithm)
                    if verifier.name == algorithm { perAlgorithm[algorithm] = verifier }
                } catch {
                    skipped.append("\(label): not a usable \(kty) key for \(algorithm)")
                }
            }
            if !perAlgorithm.isEmpty { verifiers[kid] = perAlgorithm }
        }
        return IssuerKeys(verifiers: verifiers, skipped: skipped)
    }

    /// Algorithms a key can verify, by its type and curve, narrowed to its declared `alg`.
    static func compatibleAlgorithms(kty: String, crv: String?, declared: String?) -> [String] {
        let byType: [String]
        switch (kty, crv) {
        case ("RSA", _): byType = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]
        case ("EC", "P-256"): byType = ["ES256"]
        case ("EC", "P-384"): byType = ["ES384"]
        case ("EC", "P-521"): byType = ["ES512"]
        case ("OKP", "Ed25519"): byType = ["EdDSA"]
        default: byType = []
        }
        guard let declared else { return byType }
        return byType.filter { $0 == declared }
    }
}

/// A JWKS document that could not be used at all.
package struct JWKSDocumentError: Error, Sendable, CustomStringConvertible {
    package var message: String
    package var description: String { message }
}

/// HMAC verification with a shared secret (HS256/384/512), the MAC compared in constant time.
struct SharedSecretVerifier: JWTAlgorithm {
    let name: String
    private let key: SymmetricKey

    init(name: String, secret: [UInt8]) {
        self.name = name
        key = SymmetricKey(data: secret)
    }

    func sign(_ plaintext: some DataProtocol) throws -> [UInt8] {
        switch name {
        case "HS384": return Array(HMAC<SHA384>.authenticationCode(for: plaintext, using: key))
        case "HS512": return Array(HMAC<SHA512>.authenticationCode(for: plaintext, using: key))
        default: return Array(HMAC<SHA256>.authenticationCode(for: plaintext, using: key))
        }
    }

    func verify(_ signature: some DataProtocol, signs plaintext: some DataProtocol) throws -> Bool {
        let signature = Array(signature)
        switch name {
        case "HS384": return HMAC<SHA384>.isValidAuthenticationCode(signature, authenticating: plaintext, using: key)
        case "HS512": return HMAC<SHA512>.isValidAuthenticationCode(signature, authenticating: plaintext, using: key)
        default: return HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: plaintext, using: key)
        }
    }
}
