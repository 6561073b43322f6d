/// A name pattern: `*` matches any run of characters (including `/`), `?` exactly one, and `\`
/// makes the next character literal. Matching is case-sensitive, as MCP names are.
package struct Glob: Sendable, Hashable, CustomStringConvertible {
    private enum Shape: Sendable, Hashable {
        case exact(String)
        case prefix(String)
        case any
        case general([Token])
    }

    private enum Token: Sendable, Hashable {
        case literal(UInt8)
        case one
        case star

        var literalByte: UInt8? {
            if case let .literal(byte) = self { return byte }
            return nil
        }
    }

    package let pattern: String
    private let shape: Shape

    /// Compiles a pattern already checked by `problem(in:)`.
    package init(_ pattern: String) {
        self.pattern = pattern
        let tokens = Self.tokens(pattern)
        if !tokens.contains(.one) {
            let literals = tokens.compactMap(\.literalByte)
            let text = String(decoding: literals, as: UTF8.self)
            let stars = tokens.count - literals.count
            if stars == 0 {
                shape = .exact(text)
                return
            }
            if stars == 1, tokens.last == .star {
                shape = text.isEmpty ? .any : .prefix(text)
                return
            }
        }
        shape = .general(tokens)
    }

    /// The literal text when the pattern has no wildcard, so exact names can be indexed.
    package var exactName: String? {
        if case let .exact(text) = shape { return text }
        return nil
    }

    package var description: String { pattern }

    /// The pattern matching exactly `name`: its `*`, `?` and backslashes escaped.
    package static func literal(_ name: String) -> String {
        var pattern = ""
        for character in name {
            if character == "*" || character == "?" || character == "\\" { pattern.append("\\") }
            pattern.append(character)
        }
        return pattern
    }

    /// A name the pattern matches: each `*` replaced by `star`, each `?` by `x`.
    package func example(star: String = "") -> String {
        switch shape {
        case let .exact(text): return text
        case let .prefix(text): return text + star
        case .any: return star
        case let .general(tokens):
            var bytes: [UInt8] = []
            for token in tokens {
                switch token {
                case let .literal(byte): bytes.append(byte)
                case .one: bytes.append(UInt8(ascii: "x"))
                case .star: bytes += Array(star.utf8)
                }
            }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    package static func hasWildcard(_ pattern: String) -> Bool {
        pattern.contains("*") || pattern.contains("?") || pattern.contains("\\")
    }

    /// Why a pattern is unusable, or nil.
    package static func problem(in pattern: String) -> String? {
        if pattern.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            return "contains control characters"
        }
        if pattern.first?.isWhitespace == true || pattern.last?.isWhitespace == true {
            return "starts or ends with white space, which no name has"
        }
        if pattern.contains("**") {
            return "'**' is the same as '*'; write a single '*'"
        }
        var escaped = false
        for byte in pattern.utf8 {
            escaped = !escaped && byte == UInt8(ascii: "\\")
        }
        if escaped {
            return "ends with a lone '\\'"
        }
        return nil
    }

    package func matches(_ name: String) -> Bool {
        switch shape {
        case let .exact(text): return name == text
        case let .prefix(text): return name.hasPrefix(text)
        case .any: return true
        case let .general(tokens):
            var name = name
            return name.withUTF8 { Self.match(tokens[...], UnsafeBufferPointer(rebasing: $0[...])) }
        }
    }

    /// Iterative wildcard matching with single-star backtracking: linear for the patterns people
    /// write, and never exponential. `?` consumes one whole UTF-8 encoded scalar.
    private static func match(_ pattern: ArraySlice<Token>, _ name: UnsafeBufferPointer<UInt8>) -> Bool {
        var p = pattern.startIndex
        var n = 0
        var starP: Int?
        var starN = 0
        while n < name.count {
            if p < pattern.endIndex {
                switch pattern[p] {
                case .star:
                    starP = p
                    starN = n
                    p += 1
                    continue
                case .one:
                    n = nextScalar(name, after: n)
                    p += 1
                    continue
                case let .literal(byte) where byte == name[n]:
                    n += 1
                    p += 1
                    continue
                case .literal:
                    break
                }
            }
            guard let star = starP else { return false }
            p = star + 1
            starN = nextScalar(name, after: starN)
            n = starN
        }
        while p < pattern.endIndex, pattern[p] == .star { p += 1 }
        return p == pattern.endIndex
    }

    private static func nextScalar(_ bytes: UnsafeBufferPointer<UInt8>, after index: Int) -> Int {
        var i = index + 1
        while i < bytes.count, bytes[i] & 0xC0 == 0x80 { i += 1 }
        return i
    }

    private static func tokens(_ pattern: String) -> [Token] {
        var tokens: [Token] = []
        var escaped = false
        for byte in pattern.utf8 {
            if escaped {
                tokens.append(.literal(byte))
                escaped = false
                continue
            }
            switch byte {
            case UInt8(ascii: "\\"): escaped = true
            case UInt8(ascii: "*"): tokens.append(.star)
            case UInt8(ascii: "?"): tokens.append(.one)
            default: tokens.append(.literal(byte))
            }
        }
        return tokens
    }
}
