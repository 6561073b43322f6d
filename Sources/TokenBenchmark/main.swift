import Foundation
import JWTKit
import MCPAuthzPolicy
import MCPAuthzTestSupport
import MCPAuthzTokens

// Cost of token verification on one core: the full uncached path (parse, algorithm and claim
// checks, signature) for RS256 and ES256, and the cached path (SHA-256 of the token and a
// lookup). Tokens and keys are minted by PyJWT (scripts/mint-test-tokens.py) at start.
//
//   swift run -c release token-bench [--quick]
//
// bench/token-verify.sh runs this beside `openssl speed` and prints the ratios.

let quick = CommandLine.arguments.contains("--quick")
let seconds = quick ? 0.3 : 3.0

let minted = try! MintedTokenSet.mint()
let policyFile = NSTemporaryDirectory() + "token-bench-\(UUID().uuidString).yaml"
try! """
version: 1
issuers:
  - id: idp
    issuer: \(minted.issuer)
    algorithms: [RS256, ES256]
servers:
  - id: srv
    match: { path_prefix: / }
    resource: \(minted.resource)
    issuers: [idp]
    rules: [{ name: r, allow: { methods: [ping] } }]
""".write(toFile: policyFile, atomically: true, encoding: .utf8)
let snapshot = try! PolicySnapshot.load(path: policyFile).snapshot
try? FileManager.default.removeItem(atPath: policyFile)
let server = snapshot.servers["srv"]!.config
let keys = try! await IssuerKeys.load(jwks: minted.jwks, algorithms: ["RS256", "ES256"])
let verifier = TokenVerifier()

/// Operations per second of `body`, over `seconds` of repeated batches.
func rate(_ body: () -> Bool) -> Double {
    let clock = ContinuousClock()
    var count = 0
    let start = clock.now
    var elapsed = Duration.zero
    while elapsed < .milliseconds(Int64(seconds * 1000)) {
        for _ in 0..<64 { precondition(body()) }
        count += 64
        elapsed = clock.now - start
    }
    let components = elapsed.components
    return Double(count) / (Double(components.seconds) + Double(components.attoseconds) / 1e18)
}

func verifyRate(_ name: String) -> Double {
    let token = minted.tokens[name]!
    return rate { (try? verifier.verify(token, for: server, in: snapshot, keys: { _ in keys }, now: minted.now)) != nil }
}

/// The signature check alone, through the same verifier object, for the overhead split.
func signatureRate(_ name: String, kid: String, alg: String) -> Double {
    let parts = minted.tokens[name]!.split(separator: ".")
    let signingInput = Array("\(parts[0]).\(parts[1])".utf8)
    var signature = String(parts[2]).replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
    while signature.count % 4 != 0 { signature += "=" }
    let bytes = [UInt8](Data(base64Encoded: signature)!)
    let algorithm = keys.verifier(kid: kid, algorithm: alg)!
    return rate { (try? algorithm.verify(bytes, signs: signingInput)) == true }
}

let rs256 = verifyRate("valid_rs256")
let rs256Signature = signatureRate("valid_rs256", kid: "rsa-1", alg: "RS256")
let es256 = verifyRate("valid_es256")
let cache = VerifiedTokenCache()
let cachedToken = minted.tokens["valid_rs256"]!
let verified = try! verifier.verify(cachedToken, for: server, in: snapshot, keys: { _ in keys }, now: minted.now)
cache.put(VerifiedTokenCache.key(token: cachedToken, serverID: "srv"), verified, now: minted.now)
let cached = rate { cache.get(VerifiedTokenCache.key(token: cachedToken, serverID: "srv"), now: minted.now) != nil }

print("token verification, one core, \(seconds)s per row (\(quick ? "quick" : "full") mode)")
print("rs256_uncached_per_s \(Int(rs256))")
print("rs256_signature_only_per_s \(Int(rs256Signature))")
print("es256_uncached_per_s \(Int(es256))")
print("cached_per_s \(Int(cached))")
print(String(format: "cached_ns %.0f", 1e9 / cached))
