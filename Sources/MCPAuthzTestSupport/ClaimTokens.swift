import Foundation

/// Tokens with chosen claims, signed by PyJWT with a fresh RSA key (`scripts/mint-tokens.py`),
/// and the JWKS to verify them. For tests and benchmarks of the sidecar.
public struct ClaimTokens: Sendable {
    /// The public JWKS, as JSON.
    public let jwks: String
    /// Name to compact JWS.
    public let tokens: [String: String]

    /// - Parameter specs: token name to a JSON object of claims (see the script for relative times).
    public static func mint(issuer: String, specs: [String: String]) throws(MintedTokenSet.MintingError) -> ClaimTokens {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../scripts/mint-tokens.py").standardized.path
        let body = specs.map { name, claims in "\(Self.quoted(name)): \(claims)" }.joined(separator: ", ")
        let spec = "{\"issuer\": \(Self.quoted(issuer)), \"tokens\": {\(body)}}"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        do {
            try process.run()
            input.fileHandleForWriting.write(Data(spec.utf8))
            try input.fileHandleForWriting.close()
        } catch {
            throw MintedTokenSet.MintingError(description: "cannot run python3: \(error)")
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0,
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let jwks = object["jwks"], let jwksData = try? JSONSerialization.data(withJSONObject: jwks),
            let tokens = object["tokens"] as? [String: String]
        else {
            throw MintedTokenSet.MintingError(
                description: "mint-tokens.py failed; are PyJWT and cryptography installed (scripts/test installs them)?")
        }
        return ClaimTokens(jwks: String(decoding: jwksData, as: UTF8.self), tokens: tokens)
    }

    private static func quoted(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
