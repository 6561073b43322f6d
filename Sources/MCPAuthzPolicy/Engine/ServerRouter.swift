/// Finds the server a proxied request belongs to, from its host and path.
///
/// Virtual-host semantics, as nginx's `server_name`: when any server names the request's host,
/// only the servers naming it are candidates (a host-less server never takes a request for a
/// host another server names, whatever its prefix; no match among them is no server); otherwise
/// the host-less servers are. Among the candidates the longest matching path prefix wins.
/// Prefixes match on path-segment boundaries: `/mcp` covers `/mcp` and `/mcp/x`, never `/mcpx`;
/// a trailing `/` in a prefix is ignored. Validation guarantees no two servers share a host and
/// prefix, and warns where a host-less server's prefix overlaps a named host's.
package struct ServerRouter: Sendable {
    private struct Route: Sendable {
        var serverID: String
        var host: String?
        var hostHasPort: Bool
        var prefix: String
    }

    /// Servers naming a host, and servers for any host; each longest prefix first.
    private let named: [Route]
    private let anyHost: [Route]

    init(_ servers: [ServerConfig]) {
        let routes = servers.map { server in
            let host = server.match.host?.value
            return Route(
                serverID: server.id.value, host: host, hostHasPort: host.map(Self.hasPort) ?? false,
                prefix: Self.normalizedPrefix(server.match.pathPrefix?.value)
            )
        }.sorted { $0.prefix.utf8.count > $1.prefix.utf8.count }
        named = routes.filter { $0.host != nil }
        anyHost = routes.filter { $0.host == nil }
    }

    /// The server for a request, or nil when none matches.
    package func serverID(host: String?, path: String) -> String? {
        let requestHost = host?.asciiLowercased()
        let hostWithoutPort = requestHost.map(Self.strippingPort)
        let path = path.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? path
        var hostIsNamed = false
        for route in named {
            let candidate = route.hostHasPort ? requestHost : hostWithoutPort
            guard let candidate, let routeHost = route.host, candidate.utf8.elementsEqual(routeHost.utf8) else { continue }
            hostIsNamed = true
            if Self.path(path, isUnder: route.prefix) { return route.serverID }
        }
        if hostIsNamed { return nil }
        return anyHost.first { Self.path(path, isUnder: $0.prefix) }?.serverID
    }

    /// Whether two normalized prefixes overlap: one covers the other.
    static func overlap(_ a: String, _ b: String) -> Bool {
        path(a, isUnder: b) || path(b, isUnder: a)
    }

    /// `prefix` is normalized: no trailing `/` unless it is `/` itself. Compared byte by byte,
    /// as proxies match locations: Swift's `hasPrefix` compares characters under Unicode
    /// equivalence, so `/mcp` followed by a combining mark would not be under `/mcp` (found by
    /// fuzzing the forward-auth reader).
    static func path(_ path: String, isUnder prefix: String) -> Bool {
        if prefix == "/" { return true }
        guard path.utf8.starts(with: prefix.utf8) else { return false }
        if path.utf8.count == prefix.utf8.count { return true }
        return path.utf8[path.utf8.index(path.utf8.startIndex, offsetBy: prefix.utf8.count)] == UInt8(ascii: "/")
    }

    static func normalizedPrefix(_ prefix: String?) -> String {
        guard var prefix, prefix != "/" else { return "/" }
        while prefix.hasSuffix("/") && prefix.count > 1 { prefix.removeLast() }
        return prefix
    }

    /// The identity of a route for ambiguity checks.
    static func routeKey(host: String?, pathPrefix: String?) -> String {
        "\(host ?? "*") \(normalizedPrefix(pathPrefix))"
    }

    private static func hasPort(_ host: String) -> Bool {
        if host.hasPrefix("[") { return host.contains("]:") }
        return host.contains(":")
    }

    private static func strippingPort(_ host: String) -> String {
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return host }
            return String(host[...close])
        }
        guard let colon = host.lastIndex(of: ":") else { return host }
        return String(host[..<colon])
    }
}
