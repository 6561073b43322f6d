/// Finds the server a proxied request belongs to, from its host and path.
///
/// The longest matching path prefix wins, and a server naming the host beats one that matches
/// any host. Prefixes match on path-segment boundaries: `/mcp` covers `/mcp` and `/mcp/x`,
/// never `/mcpx`; a trailing `/` in a prefix is ignored. Validation guarantees no two servers
/// share a host and prefix.
package struct ServerRouter: Sendable {
    private struct Route: Sendable {
        var serverID: String
        var host: String?
        var hostHasPort: Bool
        var prefix: String
    }

    private let routes: [Route]

    init(_ servers: [ServerConfig]) {
        routes = servers.map { server in
            let host = server.match.host?.value
            return Route(
                serverID: server.id.value, host: host, hostHasPort: host.map(Self.hasPort) ?? false,
                prefix: Self.normalizedPrefix(server.match.pathPrefix?.value)
            )
        }.sorted { a, b in
            if a.prefix.utf8.count != b.prefix.utf8.count { return a.prefix.utf8.count > b.prefix.utf8.count }
            return (a.host != nil) && (b.host == nil)
        }
    }

    /// The server for a request, or nil when none matches.
    package func serverID(host: String?, path: String) -> String? {
        let requestHost = host?.asciiLowercased()
        let hostWithoutPort = requestHost.map(Self.strippingPort)
        let path = path.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? path
        for route in routes {
            if let routeHost = route.host {
                let candidate = route.hostHasPort ? requestHost : hostWithoutPort
                guard let candidate, candidate.utf8.elementsEqual(routeHost.utf8) else { continue }
            }
            if Self.path(path, isUnder: route.prefix) { return route.serverID }
        }
        return nil
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
