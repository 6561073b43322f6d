import Crypto
import Foundation
import MCPAuthzTokens
import Testing

@testable import MCPAuthzServer

/// Checkpoint keys and messages; the writer and `audit verify --public-key` are run as processes
/// by scripts/check-checkpoints.py (which also verifies with Python's cryptography).
@Suite struct AuditCheckpointTests {
    static func file(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "mcp-authz-key-" + UUID().uuidString
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func keysReadBackFromPEMAndJWK() throws {
        let key = Curve25519.Signing.PrivateKey()
        let pem = AuditCheckpoint.pem(key)
        let privateFile = try Self.file(pem.privateKey)
        let publicFile = try Self.file(pem.publicKey)
        defer { for file in [privateFile, publicFile] { try? FileManager.default.removeItem(atPath: file) } }
        #expect(try AuditCheckpoint.signingKey(file: privateFile).rawRepresentation == key.rawRepresentation)
        #expect(try AuditCheckpoint.publicKey(file: publicFile).rawRepresentation == key.publicKey.rawRepresentation)
        let x = Base64URL.encode(Array(key.publicKey.rawRepresentation))
        let d = Base64URL.encode(Array(key.rawRepresentation))
        let jwk = try Self.file(#"{"kty":"OKP","crv":"Ed25519","x":"\#(x)","d":"\#(d)"}"#)
        defer { try? FileManager.default.removeItem(atPath: jwk) }
        #expect(try AuditCheckpoint.signingKey(file: jwk).rawRepresentation == key.rawRepresentation)
        #expect(try AuditCheckpoint.publicKey(file: jwk).rawRepresentation == key.publicKey.rawRepresentation)
    }

    @Test func otherKeysAndGarbageAreRefused() throws {
        let p256 = try Self.file(P256.Signing.PrivateKey().pemRepresentation)
        let garbage = try Self.file("not a key")
        let wrongCurve = try Self.file(#"{"kty":"OKP","crv":"X25519","x":"AAAA","d":"AAAA"}"#)
        defer { for file in [p256, garbage, wrongCurve] { try? FileManager.default.removeItem(atPath: file) } }
        for file in [p256, garbage, wrongCurve, "/nonexistent/key.pem"] {
            #expect(throws: AuditCheckpoint.KeyError.self) { try AuditCheckpoint.signingKey(file: file) }
        }
    }

    @Test func aCheckpointSignsItsChainCountTimeAndKey() throws {
        let key = Curve25519.Signing.PrivateKey()
        var signer = AuditCheckpointer(key: key, everyRecords: 3, interval: .seconds(3600))
        #expect(!signer.isDue)
        signer.counted(3)
        #expect(signer.isDue)
        let entry = signer.checkpoint(chain: String(repeating: "a", count: 64), time: 1_800_000_000.5)
        guard case let .event(.checkpoint(records, chain, keyID, signature)) = entry.kind else {
            Issue.record("not a checkpoint: \(entry.kind)")
            return
        }
        #expect(records == 3 && chain == String(repeating: "a", count: 64) && !signer.isDue)
        let message = AuditCheckpoint.message(chain: chain, records: 3, time: RFC3339.milliseconds(1_800_000_000.5), keyID: keyID)
        let bytes = try #require(AuditCheckpoint.base64URLDecodedSignature(signature))
        #expect(key.publicKey.isValidSignature(bytes, for: Array(message.utf8)))
        #expect(!key.publicKey.isValidSignature(bytes, for: Array(message.replacingOccurrences(of: "\n3\n", with: "\n4\n").utf8)))
        #expect(keyID == AuditCheckpoint.keyID(publicKey: Array(key.publicKey.rawRepresentation)))
    }
}
