/// The origin (RFC 6454) of an `http` or `https` URL, as both an `Origin` header
/// (`ServerConfig.allows(origins:)`) and a DPoP proof's `htu` (`DPoPVerifier`) are compared.
package enum WebOrigin {
    /// `scheme://authority`, lower-case, the scheme's default port dropped, and what follows the
    /// authority (path, query, fragment) as given; nil for another scheme, an empty authority,
    /// or one with user information, a backslash, a space or a control character.
    package static func split(_ url: String) -> (origin: String, rest: Substring)? {
        guard let colon = url.firstIndex(of: ":"), url[colon...].hasPrefix("://") else { return nil }
        let scheme = url[..<colon].asciiLowercased()
        guard scheme == "http" || scheme == "https" else { return nil }
        let afterScheme = url[url.index(colon, offsetBy: 3)...]
        let authorityEnd = afterScheme.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? afterScheme.endIndex
        var authority = afterScheme[..<authorityEnd].asciiLowercased()
        guard !authority.isEmpty, authority.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "@") && $0 != UInt8(ascii: "\\") })
        else { return nil }
        let defaultPort = scheme == "https" ? ":443" : ":80"
        if authority.hasSuffix(defaultPort) { authority.removeLast(defaultPort.count) }
        return ("\(scheme)://\(authority)", afterScheme[authorityEnd...])
    }
}
