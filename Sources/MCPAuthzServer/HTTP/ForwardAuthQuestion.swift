import HTTPTypes
import Hummingbird
import NIOHTTP1

/// One forward-auth call, read the same way from either entry: Hummingbird's request (Swift
/// HTTP types) or the fast path's NIO head, whose raw values are first made what HTTP types
/// would make them (`HeaderValue.legalized`), so both entries decide on the same values.
struct ForwardAuthQuestion: Sendable {
    /// All values of a header of the call, by name.
    let header: @Sendable (String) -> [String]
    /// The call's own method (Envoy's original method).
    let callMethod: String
    /// For Envoy's form, the call's path after `/auth`; nil for `/auth` itself.
    let envoyPath: String?
    /// The call's Host.
    let authority: String?

    init(_ request: Request, envoyPath: String?) {
        let fields = request.headers
        header = { name in
            guard let field = HTTPField.Name(name) else { return [] }
            return fields[values: field]
        }
        callMethod = request.method.rawValue
        self.envoyPath = envoyPath
        authority = request.head.authority
    }

    /// A plain `/auth` call from the fast path.
    init(_ head: HTTPRequestHead) {
        let fields = head.headers
        header = { fields[$0].map(HeaderValue.legalized) }
        callMethod = head.method.rawValue
        envoyPath = nil
        authority = fields.first(name: "Host").map(HeaderValue.legalized)
    }

    /// `X-Request-Id`, every value, for the audit record.
    var requestID: String? {
        let values = header(HTTPField.Name.requestID.rawName)
        return values.isEmpty ? nil : values.joined(separator: ", ")
    }

    /// Original method and URI as the proxy named them, for a request refused before they
    /// could be read properly.
    var claimedOriginal: (method: String?, uri: String?) {
        (header("X-Original-Method").first ?? header("X-Forwarded-Method").first, header("X-Original-URI").first ?? header("X-Forwarded-Uri").first)
    }
}
