import MCPAuthzPolicy

/// Finds the bearer token of a request for a server: in `Authorization: Bearer …` (RFC 6750
/// §2.1) or `Authorization: DPoP …` (RFC 9449), or in the `token_header` of an issuer the server accepts (Cloudflare Access sends
/// `Cf-Access-Jwt-Assertion`). Header names compare case-insensitively.
package enum BearerTokenExtractor {
    /// - Parameter header: all values of a request header, by name.
    package static func token(for server: ServerConfig, in snapshot: PolicySnapshot, header: (String) -> [String]) throws(TokenFailure)
        -> String
    {
        try presented(for: server, in: snapshot, header: header).token
    }

    /// The token and how it was presented: `Authorization: Bearer …`, `Authorization: DPoP …`
    /// (RFC 9449, with the `DPoP` header's proofs), or an issuer's `token_header` (as Bearer).
    /// The request a proof must name is the caller's to add.
    package static func presented(
        for server: ServerConfig, in snapshot: PolicySnapshot, header: (String) -> [String]
    ) throws(TokenFailure) -> PresentedToken {
        let authorization = header("Authorization")
        if authorization.count > 1 {
            throw TokenFailure(.tokenMalformed, "more than one Authorization header")
        }
        if let value = authorization.first {
            // The scheme is case-insensitive; the token is everything after one space.
            for (scheme, name) in [(PresentedToken.Scheme.bearer, "bearer"), (.dpop, "dpop")] {
                let utf8 = value.utf8
                guard utf8.count > name.utf8.count + 1, utf8.prefix(name.utf8.count).elementsEqual(name.utf8, by: { $0 | 0x20 == $1 }),
                    utf8[utf8.index(utf8.startIndex, offsetBy: name.utf8.count)] == UInt8(ascii: " ")
                else { continue }
                let token = try checked(String(Substring(utf8.dropFirst(name.utf8.count + 1))))
                return PresentedToken(token: token, scheme: scheme, proofs: header("DPoP"))
            }
            throw TokenFailure(.tokenMissing, "Authorization is not a Bearer or DPoP credential")
        }
        for issuerID in server.issuers.map(\.value) {
            guard let name = snapshot.issuers[issuerID]?.tokenHeader?.value else { continue }
            let values = header(name)
            if values.count > 1 { throw TokenFailure(.tokenMalformed, "more than one \(name) header") }
            if let value = values.first { return PresentedToken(token: try checked(value), proofs: header("DPoP")) }
        }
        throw TokenFailure(.tokenMissing, "no bearer token in the request")
    }

    /// A token is an RFC 6750 b64token: letters, digits, `-._~+/`, then any `=` padding. A JWS
    /// uses a subset; opaque tokens for introspection may use the rest. Nothing else (spaces,
    /// quotes, control characters, a `=` inside) ever reaches a verifier or an endpoint.
    package static func checked(_ token: String) throws(TokenFailure) -> String {
        guard !token.isEmpty else { throw TokenFailure(.tokenMissing, "empty bearer token") }
        var token = token
        let valid = token.withUTF8 { bytes in
            let padding = bytes.reversed().prefix { $0 == UInt8(ascii: "=") }.count
            guard padding < bytes.count else { return false }
            return bytes.dropLast(padding).allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                    UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"), UInt8(ascii: "+"), UInt8(ascii: "/"):
                    return true
                default:
                    return false
                }
            }
        }
        guard valid else { throw TokenFailure(.tokenMalformed, "bearer token has characters a token cannot have (RFC 6750 b64token)") }
        return token
    }
}
