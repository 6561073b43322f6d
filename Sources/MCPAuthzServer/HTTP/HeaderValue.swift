/// Claim values made safe to send as HTTP header values to the upstream.
///
/// Tokens are signed by the issuer, not by the caller's good intentions: a `sub` or `email` may
/// hold CR/LF, controls or non-ASCII. Everything outside visible ASCII, and `%` itself, is
/// percent-encoded, so no value can end a header or start another, and the encoding is
/// unambiguous; values are cut at a bound.
package enum HeaderValue {
    /// Longest value sent for one claim (subject, email, issuer, client).
    package static let maxClaimBytes = 256
    /// Longest scope list sent.
    package static let maxScopesBytes = 4096

    package static func sanitized(_ value: String, maxBytes: Int = maxClaimBytes) -> String {
        if value.utf8.count <= maxBytes, value.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "%") }) {
            return value
        }
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(min(value.utf8.count, maxBytes))
        for byte in value.utf8 {
            let needsEncoding = byte <= 0x20 || byte >= 0x7F || byte == UInt8(ascii: "%")
            let width = needsEncoding ? 3 : 1
            guard out.count + width <= maxBytes else { break }
            if needsEncoding {
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            } else {
                out.append(byte)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// A received field value as HTTP defines it (RFC 9110 §5.5): without the white space
    /// around it, and with a space for each byte not allowed in a field value (controls other
    /// than tab, DEL), none at either end. Swift HTTP types read values this way, so the event
    /// loop's fast path, which reads NIO's raw values, must too.
    package static func legalized(_ value: String) -> String {
        func visible(_ byte: UInt8) -> Bool { (0x21...0x7E).contains(byte) || byte >= 0x80 }
        let utf8 = value.utf8
        if let first = utf8.first, let last = utf8.last, visible(first), visible(last),
            utf8.allSatisfy({ visible($0) || $0 == 0x20 || $0 == 0x09 })
        {
            return value
        }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count)
        var end = 0
        for byte in utf8 {
            if visible(byte) {
                out.append(byte)
                end = out.count
            } else if !out.isEmpty {
                out.append(byte == 0x20 || byte == 0x09 ? byte : 0x20)
            }
        }
        return String(decoding: out[..<end], as: UTF8.self)
    }

    /// Scopes, sorted, each sanitized, space-separated, within `maxScopesBytes` (scopes that do
    /// not fit are left out whole rather than cut).
    package static func scopes(_ scopes: some Sequence<String>) -> String {
        var out = ""
        for scope in scopes.sorted() {
            let safe = sanitized(scope)
            let needed = safe.utf8.count + (out.isEmpty ? 0 : 1)
            guard out.utf8.count + needed <= maxScopesBytes else { break }
            if !out.isEmpty { out += " " }
            out += safe
        }
        return out
    }

    /// A value for a quoted-string parameter of `WWW-Authenticate` (RFC 9110 §5.6.4): policy
    /// values only, but quotes and backslashes are still escaped and controls dropped.
    package static func quoted(_ value: String) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"", "\\": out += "\\" + String(scalar)
            case _ where scalar.value < 0x20 || scalar.value == 0x7F || scalar.value > 0x7E: continue
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
