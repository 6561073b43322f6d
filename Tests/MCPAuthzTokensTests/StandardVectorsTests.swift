import Foundation
import MCPAuthzPolicy
import Testing

@testable import MCPAuthzTokens

/// Published test vectors (Tests/Vectors, sources and licences in its README) run through the
/// token verifier's own stages: keys through the JWKS reader, signatures through the signature
/// stage `verify` uses, whole tokens through the header and signature stages.
@Suite struct StandardVectorsTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../Vectors").standardized

    /// Every algorithm mcp-authz can verify; HMAC and `none` are refused before this list is read.
    static let algorithms = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]

    static func json(_ path: String) throws -> [String: Any] {
        let data = try Data(contentsOf: folder.appendingPathComponent(path))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// A one-key set read by the JWKS reader, as an issuer's keys are.
    static func keys(_ jwk: [String: Any], algorithms: [String] = algorithms) async throws -> IssuerKeys {
        let document = try JSONSerialization.data(withJSONObject: ["keys": [jwk]])
        return try await IssuerKeys.load(jwks: document, algorithms: algorithms)
    }

    static func bytes(hex: String) throws -> [UInt8] {
        let digits = Array(hex.utf8)
        try #require(digits.count.isMultiple(of: 2))
        return try stride(from: 0, to: digits.count, by: 2).map { index in
            try #require(UInt8(String(decoding: digits[index..<index + 2], as: UTF8.self), radix: 16))
        }
    }

    // MARK: Wycheproof signature vectors, one file per JWS algorithm

    struct Tally: CustomStringConvertible {
        var valid = 0
        var invalid = 0
        var acceptable = 0
        var description: String { "\(valid) valid, \(invalid) invalid, \(acceptable) acceptable" }
    }

    @Test(arguments: [
        ("rsa_signature_2048_sha256_test.json", "RS256"),
        ("rsa_signature_2048_sha384_test.json", "RS384"),
        ("rsa_signature_2048_sha512_test.json", "RS512"),
        ("rsa_pss_2048_sha256_mgf1_32_test.json", "PS256"),
        ("rsa_pss_2048_sha384_mgf1_48_test.json", "PS384"),
        ("rsa_pss_4096_sha512_mgf1_64_test.json", "PS512"),
        ("ecdsa_secp256r1_sha256_p1363_test.json", "ES256"),
        ("ecdsa_secp384r1_sha384_p1363_test.json", "ES384"),
        ("ecdsa_secp521r1_sha512_p1363_test.json", "ES512"),
        ("ed25519_test.json", "EdDSA"),
    ])
    func wycheproofSignatures(file: String, algorithm: String) async throws {
        let document = try Self.json("wycheproof/\(file)")
        let groups = try #require(document["testGroups"] as? [[String: Any]])
        var tally = Tally()
        for group in groups {
            var jwk = try Self.jwk(of: group, file: file)
            jwk["kid"] = "wycheproof"
            let keys = try await Self.keys(jwk, algorithms: [algorithm])
            try #require(keys.verifier(kid: "wycheproof", algorithm: algorithm) != nil, "\(file): key not usable for \(algorithm): \(keys.skipped)")
            for test in try #require(group["tests"] as? [[String: Any]]) {
                let id = test["tcId"] as? Int ?? -1
                let jws = CompactJWS(
                    signingInput: try Self.bytes(hex: try #require(test["msg"] as? String)),
                    signature: try Self.bytes(hex: try #require(test["sig"] as? String)),
                    header: CompactJWS.Header(alg: algorithm, kid: "wycheproof"), payload: []
                )
                let verified = Result { () throws(TokenFailure) in
                    try TokenVerifier.checkSignature(of: jws, with: keys, named: "wycheproof") { reason, message in
                        TokenFailure(reason, message)
                    }
                }
                switch test["result"] as? String {
                case "valid":
                    tally.valid += 1
                    #expect(throws: Never.self, "\(file) tcId \(id) (\(test["comment"] ?? "")) must verify") { try verified.get() }
                case "invalid":
                    tally.invalid += 1
                    #expect(verified.failureReason == .signatureInvalid, "\(file) tcId \(id) (\(test["comment"] ?? "")) must be refused")
                default:
                    tally.acceptable += 1
                }
            }
        }
        #expect(tally.valid + tally.invalid + tally.acceptable == document["numberOfTests"] as? Int)
        #expect(tally.valid > 0 && tally.invalid > 0)
        print("wycheproof \(file) (\(algorithm)): \(tally)")
    }

    /// The group's key as a JWK: given by most groups; built from the raw public key for the
    /// edge-case groups that give none (uncompressed EC point, or Ed25519 public key bytes).
    static func jwk(of group: [String: Any], file: String) throws -> [String: Any] {
        if let jwk = (group["publicKeyJwk"] ?? group["keyJwk"]) as? [String: Any] { return jwk }
        let key = try #require(group["publicKey"] as? [String: Any], "\(file): a group without a key")
        if let pk = key["pk"] as? String {
            return ["kty": "OKP", "crv": "Ed25519", "x": Base64URL.encode(try bytes(hex: pk))]
        }
        let uncompressed = try #require(key["uncompressed"] as? String)
        let point = try bytes(hex: uncompressed)
        let curves = ["secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"]
        let curveName = try #require(key["curve"] as? String)
        let curve = try #require(curves[curveName])
        try #require(point.first == 4 && point.count % 2 == 1)
        let half = (point.count - 1) / 2
        return [
            "kty": "EC", "crv": curve, "x": Base64URL.encode(Array(point[1...half])),
            "y": Base64URL.encode(Array(point[(half + 1)...])),
        ]
    }

    // MARK: Wycheproof JSON Web Signature vectors, as whole tokens

    @Test func wycheproofJSONWebSignatures() async throws {
        let document = try Self.json("wycheproof/json_web_signature_subset_test.json")
        let groups = try #require(document["testGroups"] as? [[String: Any]])
        // The hs256 group has only a secret key; its tokens meet the EC key set, and must all be
        // refused: mcp-authz accepts no HMAC token, the vector Wycheproof calls valid included.
        let ecKey = try #require(groups.first { $0["comment"] as? String == "es256" }?["public"] as? [String: Any])
        var counts = (accepted: 0, refused: 0)
        for group in groups {
            let name = try #require(group["comment"] as? String)
            let keys = try await Self.keys(group["public"] as? [String: Any] ?? ecKey)
            for test in try #require(group["tests"] as? [[String: Any]]) {
                let id = test["tcId"] as? Int ?? -1
                let token = try #require(test["jws"] as? String)
                let outcome = Result { () throws(TokenFailure) in try TokenVerifier.verifySignature(token, keys: keys, algorithms: Self.algorithms) }
                if name != "hs256", test["result"] as? String == "valid" {
                    #expect(try outcome.get() == Array("foo".utf8), "tcId \(id) must verify")
                    counts.accepted += 1
                } else {
                    #expect(outcome.failureReason != nil, "tcId \(id) (\(test["comment"] ?? "")) must be refused")
                    counts.refused += 1
                }
                if name == "hs256", id <= 12 || id == 16 {
                    // Every one of these has a header naming HS256 or none, or no header at all.
                    let reason = try #require(outcome.failureReason)
                    #expect([.algorithmNotAllowed, .tokenMalformed].contains(reason), "tcId \(id): \(reason)")
                }
            }
        }
        #expect(counts.accepted == 2)
        #expect(counts.accepted + counts.refused == document["numberOfTests"] as? Int)
    }

    // MARK: RFC 7515, RFC 7520 and RFC 8037 examples

    @Test func rfcExamples() async throws {
        let vectors = try #require(try Self.json("rfc/jws-examples.json")["vectors"] as? [[String: Any]])
        #expect(vectors.count == 10)
        for vector in vectors {
            let name = try #require(vector["name"] as? String)
            let token = try #require(vector["jws"] as? String)
            let expected = try #require(vector["expected"] as? String)
            let keys = try await Self.keys(try #require(vector["jwk"] as? [String: Any]))
            let outcome = Result { () throws(TokenFailure) in try TokenVerifier.verifySignature(token, keys: keys, algorithms: Self.algorithms) }
            #expect((outcome.failureReason?.rawValue ?? "accepted") == expected, "\(name)")
            guard expected == "accepted" else { continue }
            // The same token with one payload character changed must no longer verify.
            var parts = token.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            let first = parts[1].removeFirst()
            parts[1] = (first == "A" ? "B" : "A") + parts[1]
            let tampered = Result { () throws(TokenFailure) in
                try TokenVerifier.verifySignature(parts.joined(separator: "."), keys: keys, algorithms: Self.algorithms)
            }
            #expect(tampered.failureReason == .signatureInvalid, "\(name), payload changed")
        }
    }
}

extension StandardVectorsTests {
    /// The HMAC example of RFC 7515 (A.1; the file keeps its key, not RFC 7520 4.4's), with its
    /// key as a shared secret: what an issuer with `secret_file` verifies. A changed payload or
    /// a key one byte shorter no longer verifies; HS256 is the only algorithm listed.
    @Test func rfcHMACExamplesVerifyWithASharedSecret() throws {
        let vectors = try #require(try Self.json("rfc/jws-examples.json")["vectors"] as? [[String: Any]])
        let hmac = vectors.filter { ($0["jwk"] as? [String: Any])?["k"] != nil }
        #expect(hmac.map { $0["name"] as? String } == ["RFC 7515 A.1: HS256"])
        for vector in hmac {
            let name = try #require(vector["name"] as? String)
            let k = try #require((vector["jwk"] as? [String: Any])?["k"] as? String)
            let secret = try #require(Base64URL.decode(Array(k.utf8)[...]))
            let parts = try #require(vector["jws"] as? String).split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            let signature = try #require(Base64URL.decode(Array(parts[2].utf8)[...]))
            let input = Array((parts[0] + "." + parts[1]).utf8)
            let keys = IssuerKeys.sharedSecret(secret, algorithms: ["HS256"])
            #expect(keys.verify(signature, signs: input, kid: "any kid", algorithm: "HS256") == true, "\(name)")
            #expect(keys.verify(signature, signs: input + [0x41], kid: "", algorithm: "HS256") == false, "\(name), payload changed")
            let shorter = IssuerKeys.sharedSecret(Array(secret.dropLast()), algorithms: ["HS256"])
            #expect(shorter.verify(signature, signs: input, kid: "", algorithm: "HS256") != true, "\(name), shorter key")
            #expect(keys.verify(signature, signs: input, kid: "", algorithm: "HS512") == nil, "\(name): HS512 was not listed")
        }
        // A secret shorter than the hash gives no verifier at all.
        #expect(IssuerKeys.sharedSecret(Array(repeating: 7, count: 31), algorithms: ["HS256"]).isEmpty)
    }
}

extension Result where Failure == TokenFailure {
    var failureReason: TokenFailure.Reason? {
        if case let .failure(failure) = self { return failure.reason }
        return nil
    }
}
