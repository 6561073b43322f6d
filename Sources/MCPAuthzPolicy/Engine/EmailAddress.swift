/// Email comparison as mail works: the domain is case-insensitive, the local part is not.
package enum EmailAddress {
    /// The address with its domain lower-cased, or nil when it is not `local@domain`.
    package static func normalized(_ address: String) -> String? {
        guard let at = address.lastIndex(of: "@") else { return nil }
        let local = address[..<at]
        let domain = address[address.index(after: at)...]
        guard !local.isEmpty, !domain.isEmpty, !domain.contains("@"),
            !address.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F })
        else { return nil }
        return local + "@" + domain.asciiLowercased()
    }

    /// The lower-cased domain of a normalized address.
    package static func domain(of normalized: String) -> Substring? {
        guard let at = normalized.lastIndex(of: "@") else { return nil }
        return normalized[normalized.index(after: at)...]
    }
}
