extension StringProtocol {
    /// Lower-cases A–Z only. Full Unicode lower-casing folds some non-ASCII letters into ASCII
    /// (the Kelvin sign U+212A becomes "k"), which would let a look-alike domain or host compare
    /// equal to a real one; DNS names compare case-insensitively over ASCII only.
    package func asciiLowercased() -> String {
        var bytes = Array(utf8)
        for i in bytes.indices where bytes[i] >= UInt8(ascii: "A") && bytes[i] <= UInt8(ascii: "Z") {
            bytes[i] += 32
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
