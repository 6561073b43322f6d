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
    /// Keys of the document that were left out, with why (for logs; never fatal).
    package let skipped: [String]

    package var kids: [String] { verifiers.keys.sorted() }
    package var isEmpty: Bool { verifiers.isEmpty }

    /// Smallest RSA modulus accepted, in bits.
    package static let minimumRSABits = 2048

    /// The kid given to the only key of a document whose key has none.
    static let anonymousKid = ""

    init(verifiers: [String: [String: any JWTAlgorithm]], skipped: [String]) {
        self.verifiers = verifiers
        self.skipped = skipped
    }

    package func verifier(kid: String, algorithm: String) -> (any JWTAlgorithm)? {
        verifiers[kid]?[algorithm]
    }

    func hasKey(kid: String) -> Bool { verifiers[kid] != nil }

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
