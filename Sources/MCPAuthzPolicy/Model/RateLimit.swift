/// A server's `limits:` entry: how often the requests it applies to may come, counted per key.
/// Only requests the rules allow are limited and counted.
package struct RateLimit: Sendable {
    /// What a key is made of.
    package enum KeyPart: Sendable, Hashable, CustomStringConvertible {
        case subject
        case client
        case issuer
        case email
        /// The address the proxy puts in the client-IP header (`X-Real-IP` by default).
        case clientIP
        case tool
        case method
        case claim(String)

        package static let names = ["subject", "client", "issuer", "email", "client_ip", "tool", "method", "claim:<path>"]

        package init?(_ text: String) {
            switch text {
            case "subject": self = .subject
            case "client": self = .client
            case "issuer": self = .issuer
            case "email": self = .email
            case "client_ip": self = .clientIP
            case "tool": self = .tool
            case "method": self = .method
            default:
                guard text.hasPrefix("claim:"), text.count > "claim:".count else { return nil }
                self = .claim(String(text.dropFirst("claim:".count)))
            }
        }

        package var description: String {
            switch self {
            case .subject: "subject"
            case .client: "client"
            case .issuer: "issuer"
            case .email: "email"
            case .clientIP: "client_ip"
            case .tool: "tool"
            case .method: "method"
            case let .claim(path): "claim:\(path)"
            }
        }
    }

    /// `N/s`, `N/min` or `N/h`: N requests per period.
    package struct Rate: Sendable, Equatable, CustomStringConvertible {
        package var count: Int
        package var seconds: Int

        package static let units: [(String, Int)] = [("s", 1), ("min", 60), ("h", 3600)]

        package init(count: Int, seconds: Int) {
            self.count = count
            self.seconds = seconds
        }

        /// Nil when the text is not `N/unit`.
        package init?(_ text: String) {
            let parts = text.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 2, let count = Int(String(parts[0].filter { !$0.isWhitespace })),
                let unit = Self.units.first(where: { $0.0 == String(parts[1].filter { !$0.isWhitespace }) })
            else { return nil }
            self.init(count: count, seconds: unit.1)
        }

        package var perSecond: Double { Double(count) / Double(seconds) }

        package var description: String { "\(count)/\(Self.units.first { $0.1 == seconds }?.0 ?? "\(seconds)s")" }
    }

    package var name: Located<String>
    /// `when:`: the callers it applies to (the same conditions as rules); nil for all.
    package var condition: Condition?
    /// `applies_to:`: the operations it applies to; nil for every request to the server.
    package var appliesTo: Targets?
    package var key: [KeyPart]
    package var rate: Rate?
    /// How many may come at once; the rate's N by default.
    package var burst: Int?
    /// At most this many per calendar day (UTC).
    package var quota: Int?
    package var location: SourceLocation

    package init(name: Located<String>, key: [KeyPart], location: SourceLocation) {
        self.name = name
        self.key = key
        self.location = location
    }

    /// The burst in force: as written, else the rate's N.
    package var effectiveBurst: Int { burst ?? rate?.count ?? 0 }
}
