import Foundation

/// Tokens with chosen claims, signed by PyJWT with a fresh RSA key (`scripts/mint-tokens.py`),
/// and the JWKS to verify them. For tests and benchmarks of the sidecar.
public struct ClaimTokens: Sendable {
    /// The public JWKS, as JSON.
    public let jwks: String
    /// Name to compact JWS.
    public let tokens: [String: String]

    /// - Parameter specs: token name to a JSON object of claims (see the script for relative times).
    public static func mint(issuer: String, specs: [String: String]) async throws(MintedTokenSet.MintingError) -> ClaimTokens {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../scripts/mint-tokens.py").standardized.path
        let body = specs.map { name, claims in "\(Self.quoted(name)): \(claims)" }.joined(separator: ", ")
        let spec = "{\"issuer\": \(Self.quoted(issuer)), \"tokens\": {\(body)}}"
        let data: Data
        do {
            data = try await ChildProcess.output(["python3", script], input: Data(spec.utf8))
        } catch {
            throw MintedTokenSet.MintingError(
                description: "mint-tokens.py failed (\(error)); are PyJWT and cryptography installed (scripts/test installs them)?")
        }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let jwks = object["jwks"], let jwksData = try? JSONSerialization.data(withJSONObject: jwks),
            let tokens = object["tokens"] as? [String: String]
        else {
            throw MintedTokenSet.MintingError(description: "mint-tokens.py printed something other than its JSON")
        }
        return ClaimTokens(jwks: String(decoding: jwksData, as: UTF8.self), tokens: tokens)
    }

    private static func quoted(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
