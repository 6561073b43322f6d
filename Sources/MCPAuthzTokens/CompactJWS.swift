import Foundation
import MCPAuthzPolicy

/// A compact JWS split and decoded, before any signature check. Nothing here is trusted yet.
struct CompactJWS: Sendable {
    /// `base64url(header) "." base64url(payload)`: the bytes the signature covers.
    let signingInput: [UInt8]
    let signature: [UInt8]
    let header: Header
    let claims: [String: ClaimValue]

    struct Header: Sendable {
        var alg: String
        var kid: String?
        var typ: String?
        /// Critical extensions (RFC 7515 §4.1.11); mcp-authz understands none, so any rejects.
        var crit: [String]?
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
        let parts = token.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 3 else {
            throw TokenFailure(.tokenMalformed, "a JWS has three dot-separated parts, this token has \(parts.count)")
        }
        guard parts[0].count <= limits.maxHeaderBytes * 4 / 3 + 4 else {
            throw TokenFailure(.tokenMalformed, "token header is larger than \(limits.maxHeaderBytes) bytes")
        }
        guard let headerBytes = Base64URL.decode(parts[0]), let payloadBytes = Base64URL.decode(parts[1]),
            let signature = Base64URL.decode(parts[2])
        else {
            throw TokenFailure(.tokenMalformed, "a token part is not unpadded base64url")
        }
        guard case let .object(headerObject)? = try? JSONDecoder().decode(ClaimValue.self, from: Data(headerBytes)) else {
            throw TokenFailure(.tokenMalformed, "token header is not a JSON object")
        }
        guard case let .object(claims)? = try? JSONDecoder().decode(ClaimValue.self, from: Data(payloadBytes)) else {
            throw TokenFailure(.tokenMalformed, "token payload is not a JSON object")
        }
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
        if let crit = headerObject["crit"] {
            header.crit = crit.stringSet
        }
        return CompactJWS(
            signingInput: Array(token.utf8.prefix(parts[0].count + 1 + parts[1].count)), signature: signature, header: header,
            claims: claims
        )
    }
}

/// Strict unpadded base64url (RFC 7515 §2): no padding, no other alphabet, no white space.
enum Base64URL {
    static func decode(_ text: some Collection<UInt8>) -> [UInt8]? {
        var output: [UInt8] = []
        output.reserveCapacity(text.count * 3 / 4)
        var buffer: UInt32 = 0
        var bits = 0
        for byte in text {
            let value: UInt8
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): value = byte - UInt8(ascii: "A")
            case UInt8(ascii: "a")...UInt8(ascii: "z"): value = byte - UInt8(ascii: "a") + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = byte - UInt8(ascii: "0") + 52
            case UInt8(ascii: "-"): value = 62
            case UInt8(ascii: "_"): value = 63
            default: return nil
            }
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

    static func encode(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
