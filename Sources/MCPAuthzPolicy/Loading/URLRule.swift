/// Which URLs the policy accepts for issuers, key sets and resources: absolute `https`, and
/// plain `http` only for loopback hosts, which tests and demos use.
package enum URLRule {
    /// Why a URL is not acceptable, or nil.
    package static func problem(_ text: String) -> String? {
        let lower = text.lowercased()
        let rest: Substring
        if lower.hasPrefix("https://") {
            rest = text.dropFirst(8)
        } else if lower.hasPrefix("http://") {
            rest = text.dropFirst(7)
            let host = rest.prefix { $0 != "/" && $0 != ":" && $0 != "?" }.lowercased()
            let authority = rest.prefix { $0 != "/" && $0 != "?" }.lowercased()
            guard host == "localhost" || host == "127.0.0.1" || authority.hasPrefix("[::1]") else {
                return "'\(text)' must use https (plain http is accepted only for localhost)"
            }
        } else {
            return "'\(text)' must be an absolute https URL"
        }
        if rest.isEmpty || rest.hasPrefix("/") {
            return "'\(text)' has no host"
        }
        if text.contains("#") {
            return "'\(text)' must not contain a fragment"
        }
        if text.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F }) {
            return "'\(text)' contains spaces or control characters"
        }
        return nil
    }
}
