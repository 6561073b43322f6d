import Crypto
import Foundation
import MCPAuthzPolicy
import MCPAuthzTokens

/// Signed checkpoints of the audit log's hash chain (Ed25519).
///
/// Every `--audit-checkpoint-records` records or `--audit-checkpoint-interval`, and when the log
/// starts and stops, the writer appends a `checkpoint` record: the hash of the line before it
/// (`chain`), how many records came since the previous checkpoint (`records`), the key's id and
/// an Ed25519 signature over `message`. Whoever holds only the public key can then tell a log
/// that the writer produced from one rebuilt after the fact: a changed record breaks the chain,
/// and a chain recomputed around the change breaks the next signature.
package enum AuditCheckpoint {
    /// What is signed: these five lines, joined by `\n`, as UTF-8.
    package static func message(chain: String, records: Int, time: String, keyID: String) -> String {
        "mcp-authz-audit-checkpoint-v1\n\(chain)\n\(records)\n\(time)\n\(keyID)"
    }

    /// The key id: the RFC 7638 thumbprint of the public key as an OKP JWK.
    package static func keyID(publicKey: [UInt8]) -> String {
        let jwk = "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"\(Base64URL.encode(publicKey))\"}"
        return Base64URL.encode(Array(SHA256.hash(data: Array(jwk.utf8))))
    }

    /// A signature's bytes from its base64url text.
    package static func base64URLDecodedSignature(_ text: String) -> [UInt8]? {
        Base64URL.decode(Array(text.utf8)[...]).flatMap { $0.count == 64 ? $0 : nil }
    }

    /// PKCS#8 and SubjectPublicKeyInfo DER prefixes of an Ed25519 key (RFC 8410): the key bytes follow.
    static let privatePrefix: [UInt8] = [0x30, 0x2E, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2B, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]
    static let publicPrefix: [UInt8] = [0x30, 0x2A, 0x30, 0x05, 0x06, 0x03, 0x2B, 0x65, 0x70, 0x03, 0x21, 0x00]

    package struct KeyError: Error, CustomStringConvertible {
        package var description: String
    }

    /// An Ed25519 signing key from a PEM (`PRIVATE KEY`, PKCS#8) or JWK (`OKP`, `Ed25519`, `d`) file.
    package static func signingKey(file: String) throws(KeyError) -> Curve25519.Signing.PrivateKey {
        try key(file: file, pemLabel: "PRIVATE KEY", prefix: privatePrefix, jwkMember: "d", what: "private") { raw in
            try? Curve25519.Signing.PrivateKey(rawRepresentation: raw)
        }
    }

    /// An Ed25519 public key from a PEM (`PUBLIC KEY`) or JWK (`OKP`, `Ed25519`, `x`) file.
    package static func publicKey(file: String) throws(KeyError) -> Curve25519.Signing.PublicKey {
        try key(file: file, pemLabel: "PUBLIC KEY", prefix: publicPrefix, jwkMember: "x", what: "public") { raw in
            try? Curve25519.Signing.PublicKey(rawRepresentation: raw)
        }
    }

    private static func key<Key>(
        file: String, pemLabel: String, prefix: [UInt8], jwkMember: String, what: String, make: ([UInt8]) -> Key?
    ) throws(KeyError) -> Key {
        let bytes: [UInt8]
        do throws(BoundedFile.Failure) {
            bytes = Array(try BoundedFile.read(file, maxBytes: 16 * 1024))
        } catch {
            throw KeyError(description: "\(file): \(error.description)")
        }
        guard let raw = keyBytes(bytes, pemLabel: pemLabel, prefix: prefix, jwkMember: jwkMember), let key = make(raw) else {
            throw KeyError(
                description: "\(file): not an Ed25519 \(what) key (PEM '\(pemLabel)' or a JWK with kty OKP, crv Ed25519, \(jwkMember))")
        }
        return key
    }

    /// The 32 key bytes of a PEM block with `pemLabel` (DER `prefix` + key) or of a JWK member.
    private static func keyBytes(_ file: [UInt8], pemLabel: String, prefix: [UInt8], jwkMember: String) -> [UInt8]? {
        let text = String(decoding: file, as: UTF8.self)
        if let begin = text.range(of: "-----BEGIN \(pemLabel)-----"), let end = text.range(of: "-----END \(pemLabel)-----"),
            begin.upperBound <= end.lowerBound
        {
            let body = text[begin.upperBound..<end.lowerBound].filter { !$0.isWhitespace }
            guard let der = Data(base64Encoded: String(body)).map(Array.init), der.count == prefix.count + 32, der.starts(with: prefix)
            else { return nil }
            return Array(der.suffix(32))
        }
        guard case let .object(jwk)? = try? ClaimValue.parseJSON(file, maxDepth: 4), jwk["kty"] == .string("OKP"),
            jwk["crv"] == .string("Ed25519"), case let .string(value)? = jwk[jwkMember], let raw = Base64URL.decode(Array(value.utf8)[...]),
            raw.count == 32
        else { return nil }
        return raw
    }

    /// PEM of a private key (PKCS#8) and of its public key (SubjectPublicKeyInfo).
    package static func pem(_ key: Curve25519.Signing.PrivateKey) -> (privateKey: String, publicKey: String) {
        func block(_ label: String, _ der: [UInt8]) -> String {
            "-----BEGIN \(label)-----\n" + Data(der).base64EncodedString() + "\n-----END \(label)-----\n"
        }
        return (
            block("PRIVATE KEY", privatePrefix + Array(key.rawRepresentation)),
            block("PUBLIC KEY", publicPrefix + Array(key.publicKey.rawRepresentation))
        )
    }
}

/// The writer's side: when a checkpoint is due, and the record that makes one.
struct AuditCheckpointer {
    let key: Curve25519.Signing.PrivateKey
    let keyID: String
    let everyRecords: Int
    let interval: Duration
    private(set) var sinceLast = 0
    private var lastAt = ContinuousClock.now

    init(key: Curve25519.Signing.PrivateKey, everyRecords: Int, interval: Duration) {
        self.key = key
        keyID = AuditCheckpoint.keyID(publicKey: Array(key.publicKey.rawRepresentation))
        self.everyRecords = everyRecords
        self.interval = interval
    }

    mutating func counted(_ records: Int) {
        sinceLast += records
    }

    /// Due: records since the last checkpoint reached the count, or some came and the interval passed.
    var isDue: Bool {
        sinceLast >= everyRecords || (sinceLast > 0 && lastAt.duration(to: .now) >= interval)
    }

    /// The checkpoint record for a chain whose last line's hash is `chain`.
    mutating func checkpoint(chain: String, time: Double) -> AuditEntry {
        let keyID = keyID
        let message = AuditCheckpoint.message(chain: chain, records: sinceLast, time: RFC3339.milliseconds(time), keyID: keyID)
        // Ed25519 signing fails only without randomness or memory; the record then says so and
        // verification reports that checkpoint as unsigned.
        let signature = (try? key.signature(for: Array(message.utf8))).map { Base64URL.encode(Array($0)) } ?? ""
        let entry = AuditEntry(time: time, .event(.checkpoint(records: sinceLast, chain: chain, keyID: keyID, signature: signature)))
        sinceLast = 0
        lastAt = .now
        return entry
    }
}
