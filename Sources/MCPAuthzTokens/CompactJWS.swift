import Foundation
import MCPAuthzPolicy

/// A compact JWS split and decoded, before any signature check. Nothing here is trusted yet.
struct CompactJWS: Sendable {
    /// `base64url(header) "." base64url(payload)`: the bytes the signature covers.
    let signingInput: [UInt8]
    let signature: [UInt8]
    let header: Header
    /// The decoded payload; for a token, its claims (`claims()`).
    let payload: [UInt8]

    struct Header: Sendable {
        var alg: String
        var kid: String?
        var typ: String?
        /// Critical extensions (RFC 7515 §4.1.11); mcp-authz understands none, so any rejects.
        var crit: [String]?
        /// An embedded public key (RFC 7515 §4.1.3): never used to verify a token, only a DPoP
        /// proof, whose key it is by definition.
        var jwk: [String: ClaimValue]?
    }

    /// Bounds on each part, applied before decoding it.
    struct Limits: Sendable {
        var maxTokenBytes = 16 * 1024
        var maxHeaderBytes = 2 * 1024
    }

    static func parse(_ token: String, limits: Limits = Limits()) throws(TokenFailure) -> CompactJWS {
        guard token.utf8.count <= limits.maxTokenBytes else {
            throw TokenFailure(.tokenTooLarge, "token is larger than \(limits.maxTokenBytes) bytes")
        }
        let bytes = Array(token.utf8)
        var dots: [Int] = []
        dots.reserveCapacity(2)
        for index in bytes.indices where bytes[index] == UInt8(ascii: ".") {
            dots.append(index)
            if dots.count > 2 { break }
        }
        guard dots.count == 2 else {
            let found = dots.count > 2 ? "more" : "\(dots.count + 1)"
            throw TokenFailure(.tokenMalformed, "a JWS has three dot-separated parts, this token has \(found)")
        }
        let headerPart = bytes[..<dots[0]]
        let payloadPart = bytes[(dots[0] + 1)..<dots[1]]
        let signaturePart = bytes[(dots[1] + 1)...]
        guard headerPart.count <= limits.maxHeaderBytes * 4 / 3 + 4 else {
            throw TokenFailure(.tokenMalformed, "token header is larger than \(limits.maxHeaderBytes) bytes")
        }
        guard let headerBytes = Base64URL.decode(headerPart), let payloadBytes = Base64URL.decode(payloadPart),
            let signature = Base64URL.decode(signaturePart)
        else {
            throw TokenFailure(.tokenMalformed, "a token part is not unpadded base64url")
        }
        let headerObject = try jsonObject(headerBytes, part: "header")
        guard case let .string(alg)? = headerObject["alg"] else {
            throw TokenFailure(.tokenMalformed, "token header has no alg")
        }
        var header = Header(alg: alg)
        switch headerObject["kid"] {
        case nil: break
        case let .string(kid)?: header.kid = kid
        default: throw TokenFailure(.tokenMalformed, "token header kid is not a string")
        }
        switch headerObject["typ"] {
        case nil: break
        case let .string(typ)?: header.typ = typ
        default: throw TokenFailure(.tokenMalformed, "token header typ is not a string")
        }
        switch headerObject["jwk"] {
        case nil: break
        case let .object(jwk)?: header.jwk = jwk
        default: throw TokenFailure(.tokenMalformed, "token header jwk is not a JSON object")
        }
        if let crit = headerObject["crit"] {
            header.crit = crit.stringSet
        }
        return CompactJWS(signingInput: Array(bytes[..<dots[1]]), signature: signature, header: header, payload: payloadBytes)
    }

    /// The payload read as JWT claims: a JSON object.
    func claims() throws(TokenFailure) -> [String: ClaimValue] {
        try Self.jsonObject(payload, part: "payload")
    }
}

extension CompactJWS {
    /// A part decoded as a JSON object, with duplicate names and deep nesting refused.
    static func jsonObject(_ bytes: [UInt8], part: String) throws(TokenFailure) -> [String: ClaimValue] {
        let value: ClaimValue
        do {
            value = try ClaimValue.parseJSON(bytes)
        } catch {
            throw TokenFailure(.tokenMalformed, "token \(part): \(error)")
        }
        guard case let .object(object) = value else { throw TokenFailure(.tokenMalformed, "token \(part) is not a JSON object") }
        return object
    }
}

/// Strict unpadded base64url (RFC 7515 §2): no padding, no other alphabet, no white space.
package enum Base64URL {
    package static func decode(_ text: ArraySlice<UInt8>) -> [UInt8]? {
        text.withUnsafeBufferPointer(decode)
    }

    static func decode(_ text: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        var output: [UInt8] = []
        output.reserveCapacity(text.count * 3 / 4)
        var buffer: UInt32 = 0
        var bits = 0
        for byte in text {
            let value = alphabet[Int(byte)]
            if value == invalid { return nil }
            buffer = (buffer << 6) | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                output.append(UInt8(truncatingIfNeeded: buffer >> UInt32(bits)))
            }
        }
        // A single leftover character cannot encode a byte; leftover bits must be zero.
        if bits >= 6 || buffer & ((1 << UInt32(bits)) - 1) != 0 { return nil }
        return output
    }

    private static let invalid: UInt8 = 0xFF

    /// Byte to 6-bit value, `invalid` outside the base64url alphabet.
    private static let alphabet: [UInt8] = {
        var table = [UInt8](repeating: invalid, count: 256)
        for (value, character) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8.enumerated() {
            table[Int(character)] = UInt8(value)
        }
        return table
    }()

    package static func encode(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}

extension TokenVerifier {
    /// The `aud` a token names, read without verifying it: only to choose which server to verify
    /// it for (verification then checks `aud` itself). Empty for anything but a JWS.
    package static func unverifiedAudiences(_ token: String) -> [String] {
        guard let jws = try? CompactJWS.parse(token), let claims = try? jws.claims() else { return [] }
        switch claims["aud"] {
        case let .string(aud)?: return [aud]
        case let .array(items)?: return items.compactMap(\.stringValue)
        default: return []
        }
    }
}
