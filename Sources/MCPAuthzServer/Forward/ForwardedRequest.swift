import Foundation
import MCPAuthzPolicy

/// The request a proxy asks about, as its forward-auth call describes it.
///
/// nginx `auth_request` and Traefik ForwardAuth call `/auth` and name the original request in
/// headers (`X-Original-Method`/`X-Original-URI`, or `X-Forwarded-Method`/`X-Forwarded-Uri`);
/// both are required there, so a proxy that forgets them is refused rather than decided as a
/// GET. Envoy's ext_authz HTTP service calls `/auth<original path>` with the original method.
/// Whichever proxy calls, it must set these headers itself and never pass on a client's.
package struct ForwardedRequest: Sendable {
    /// The original HTTP method, upper-case.
    package var method: String
    /// The original Host (`X-Forwarded-Host`, else the request's own).
    package var host: String?
    /// The original path and query.
    package var uri: String
    package var protocolVersion: String?
    /// `Mcp-Method`, and `Mcp-Name` decoded from its `=?base64?…?=` form where used.
    package var mcpMethod: String?
    package var mcpName: String?
    /// The original body when the proxy forwarded one.
    package var body: [UInt8]?

    package init(
        method: String, host: String?, uri: String, protocolVersion: String? = nil, mcpMethod: String? = nil, mcpName: String? = nil,
        body: [UInt8]? = nil
    ) {
        self.method = method
        self.host = host
        self.uri = uri
        self.protocolVersion = protocolVersion
        self.mcpMethod = mcpMethod
        self.mcpName = mcpName
        self.body = body
    }

    /// The first protocol revision whose servers must reject a request whose `Mcp-Method` or
    /// `Mcp-Name` disagrees with its body (SEP-2243); only from it on do those headers decide.
    package static let headerTrustedSince = "2026-07-28"

    /// Reads the forwarded request from the forward-auth call's headers.
    /// - Parameters:
    ///   - header: all values of a header of the call, by name.
    ///   - callMethod: the call's own HTTP method.
    ///   - pathAfterAuth: for Envoy's form, the call's path after `/auth`; nil for `/auth` itself.
    ///   - authority: the call's Host.
    package init(
        header: (String) -> [String], callMethod: String, pathAfterAuth: String?, authority: String?
    ) throws(RequestRejection) {
        func single(_ name: String) throws(RequestRejection) -> String? { try Self.single(name, in: header) }
        if let pathAfterAuth {
            method = callMethod
            uri = pathAfterAuth
        } else {
            let (nginxMethod, traefikMethod) = (try single("X-Original-Method"), try single("X-Forwarded-Method"))
            let (nginxURI, traefikURI) = (try single("X-Original-URI"), try single("X-Forwarded-Uri"))
            guard let original = nginxMethod ?? traefikMethod else {
                throw RequestRejection(.forwardRequestInvalid, "no X-Original-Method or X-Forwarded-Method header")
            }
            guard let originalURI = nginxURI ?? traefikURI else {
                throw RequestRejection(.forwardRequestInvalid, "no X-Original-URI or X-Forwarded-Uri header")
            }
            method = original.uppercased()
            uri = originalURI
        }
        let forwardedHost = try single("X-Forwarded-Host")
        if let forwardedHost, forwardedHost.contains(",") {
            throw RequestRejection(.forwardRequestInvalid, "X-Forwarded-Host names more than one host")
        }
        host = forwardedHost ?? authority
        guard Self.isCanonical(path: uri) else {
            throw RequestRejection(.forwardRequestInvalid, "path is not canonical (dot segments, '//', '%' or a relative form)")
        }
        protocolVersion = try single("MCP-Protocol-Version")
        mcpMethod = try single("Mcp-Method")
        mcpName = try single("Mcp-Name").map { value throws(RequestRejection) in try Self.decodedHeaderValue(value, header: "Mcp-Name") }
        body = nil
    }

    /// The path part of `uri`.
    package var path: Substring {
        uri[..<(uri.utf8.firstIndex(of: UInt8(ascii: "?")) ?? uri.endIndex)]
    }

    /// Whether headers may carry the operation: the client speaks a protocol whose servers
    /// reject a header that disagrees with the body.
    package var headersAreTrusted: Bool {
        guard let version = protocolVersion, Self.isDate(version) else { return false }
        return version >= Self.headerTrustedSince
    }

    /// What the request asks for: nil for GET and DELETE (decided on identity and server alone),
    /// else the messages of the body or, failing a body, of trusted `Mcp-*` headers.
    ///
    /// With the server's catalog, the arguments its tools mirror into `Mcp-Param-*` headers
    /// (`header` reads the call's headers) are read from them when there is no body, and
    /// compared with the body when there is one.
    package func messages(
        limits: MCPBodyLimits, catalog: ToolCatalog? = nil, header: (String) -> [String] = { _ in [] }
    ) throws(RequestRejection) -> [MCPMessage]? {
        switch method {
        case "GET", "DELETE": return nil
        case "POST": break
        default: throw RequestRejection(.httpMethodNotAllowed, "HTTP method \(method) is not used by MCP")
        }
        if let body, !body.isEmpty {
            let messages = try MCPRequestBody.messages(body, limits: limits)
            try checkHeadersAgree(with: messages)
            if headersAreTrusted, let catalog, messages.count == 1, case let .call(operation) = messages[0] {
                try Self.checkParameters(operation, catalog: catalog, header: header)
            }
            return messages
        }
        guard headersAreTrusted else {
            throw RequestRejection(
                .operationUnverified,
                "no body, and MCP-Protocol-Version \(protocolVersion ?? "(none)") predates \(Self.headerTrustedSince): Mcp-* headers cannot be trusted"
            )
        }
        guard let mcpMethod, !mcpMethod.isEmpty else {
            throw RequestRejection(.operationUnverified, "no body and no Mcp-Method header")
        }
        if mcpMethod == "completion/complete" {
            // Its target is in params.ref, which no header carries: decided at method level.
            return [.call(MCPOperation(method: mcpMethod, target: nil))]
        }
        if MCPMethod.targetKind(of: mcpMethod) != nil, mcpName == nil {
            throw RequestRejection(.operationUnverified, "\(mcpMethod) without an Mcp-Name header")
        }
        var operation = MCPOperation(method: mcpMethod, name: mcpName)
        if let catalog, mcpMethod == "tools/call", let name = mcpName {
            operation.arguments = try Self.headerArguments(of: name, catalog: catalog, header: header)
        }
        return [.call(operation)]
    }

    /// The arguments a tool's catalog entry mirrors into headers, read from them. An argument
    /// whose header is missing stays unseen (the client omits it for an absent or null value).
    package static func headerArguments(of tool: String, catalog: ToolCatalog, header: (String) -> [String]) throws(RequestRejection) -> MCPArguments
    {
        guard let entry = catalog.toolsByName[tool], !entry.headerParameters.isEmpty else { return .unavailable }
        var values: [String: ClaimValue] = [:]
        for parameter in entry.headerParameters.values {
            if let value = try parameterValue(parameter, header: header) { values[parameter.path] = value }
        }
        return MCPArguments(body: nil, headers: values)
    }

    /// A body whose tool mirrors arguments into headers must agree with them, as the MCP server
    /// checks (SEP-2243): a header that disagrees, or a value the body has and no header
    /// carries, is a mismatch.
    package static func checkParameters(_ operation: MCPOperation, catalog: ToolCatalog, header: (String) -> [String]) throws(RequestRejection) {
        guard operation.method == "tools/call", let name = operation.target?.name, let entry = catalog.toolsByName[name] else { return }
        for parameter in entry.headerParameters.values {
            let sent = try parameterValue(parameter, header: header)
            let inBody: ClaimValue?
            switch operation.arguments.lookup(parameter.path) {
            case let .value(value) where value != .null: inBody = value
            default: inBody = nil
            }
            switch (sent, inBody) {
            case (nil, nil): continue
            case let (sent?, inBody?) where sent.matches(inBody): continue
            default:
                throw RequestRejection(.headerMismatch, "Mcp-Param-\(parameter.header) does not match the body's \(parameter.path)")
            }
        }
    }

    /// A header's one value, or nil; a header sent twice is refused rather than one of its
    /// values guessed.
    private static func single(_ name: String, in header: (String) -> [String]) throws(RequestRejection) -> String? {
        let values = header(name)
        guard values.count <= 1 else { throw RequestRejection(.forwardRequestInvalid, "more than one \(name) header") }
        return values.first
    }

    /// One `Mcp-Param-{Name}` header's value, decoded and typed as the schema says.
    private static func parameterValue(_ parameter: HeaderParameter, header: (String) -> [String]) throws(RequestRejection) -> ClaimValue? {
        let name = "Mcp-Param-" + parameter.header
        guard let raw = try single(name, in: header) else { return nil }
        let text = try decodedHeaderValue(raw, header: name)
        guard let value = parameter.value(text) else {
            throw RequestRejection(.forwardRequestInvalid, "\(name) is not \(parameter.kind == .integer ? "an" : "a") \(parameter.kind.rawValue)")
        }
        return value
    }

    /// Any `Mcp-Method`/`Mcp-Name` sent with a body must say what the body says; a client
    /// saying one thing to the proxy and another to the server is refused.
    private func checkHeadersAgree(with messages: [MCPMessage]) throws(RequestRejection) {
        guard mcpMethod != nil || mcpName != nil else { return }
        guard messages.count == 1, case let .call(operation) = messages[0] else {
            throw RequestRejection(.headerMismatch, "Mcp-Method or Mcp-Name sent with a batch or a response")
        }
        if let mcpMethod, mcpMethod != operation.method {
            throw RequestRejection(.headerMismatch, "Mcp-Method does not match the body's method")
        }
        if let mcpName {
            guard let target = operation.target, target.name == mcpName else {
                throw RequestRejection(.headerMismatch, "Mcp-Name does not match the body's name")
            }
        }
    }

    /// A path as nginx would route it unchanged: absolute, no dot segments, no empty segments,
    /// no percent-encoding (which the proxy may decode differently than the sidecar reads it),
    /// no backslash, space or control character. One pass over the bytes up to the query.
    static func isCanonical(path uri: String) -> Bool {
        var uri = uri
        return uri.withUTF8 { bytes in
            guard bytes.first == UInt8(ascii: "/") else { return false }
            var segmentStart = 1
            var index = 1
            while index <= bytes.count {
                let byte = index < bytes.count ? bytes[index] : UInt8(ascii: "?")
                if byte == UInt8(ascii: "/") || byte == UInt8(ascii: "?") {
                    let length = index - segmentStart
                    // An empty segment is '//' (a trailing '/' ends the path, and is allowed).
                    if length == 0, byte == UInt8(ascii: "/") { return false }
                    if length == 1, bytes[segmentStart] == UInt8(ascii: ".") { return false }
                    if length == 2, bytes[segmentStart] == UInt8(ascii: "."), bytes[segmentStart + 1] == UInt8(ascii: ".") { return false }
                    if byte == UInt8(ascii: "?") { return true }
                    segmentStart = index + 1
                } else if byte == UInt8(ascii: "%") || byte == UInt8(ascii: "\\") || byte < 0x21 || byte == 0x7F {
                    return false
                }
                index += 1
            }
            return true
        }
    }

    private static func isDate(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count == 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-") else { return false }
        return bytes.enumerated().allSatisfy { index, byte in index == 4 || index == 7 || (byte >= 0x30 && byte <= 0x39) }
    }

    /// SEP-2243 sends a value that is not plain printable ASCII as `=?base64?<base64>?=`. Only
    /// canonical base64 is read (the padding it needs, no more; what encoding the value gives
    /// back): a lenient decoder here and a strict one in the MCP server would read one header
    /// two ways.
    static func decodedHeaderValue(_ value: String, header: String) throws(RequestRejection) -> String {
        guard value.hasPrefix("=?base64?"), value.hasSuffix("?="), value.utf8.count >= 11 else { return value }
        let encoded = String(value.dropFirst(9).dropLast(2))
        guard let data = Data(base64Encoded: encoded), data.base64EncodedString() == encoded,
            let decoded = String(data: data, encoding: .utf8)
        else {
            throw RequestRejection(.forwardRequestInvalid, "\(header) is not valid base64 UTF-8")
        }
        return decoded
    }
}
