import MCPAuthzPolicy
import MCPAuthzTokens

/// RFC 9728 protected-resource metadata for each server of a policy, and the URL each is
/// served at.
package struct ProtectedResourceMetadata: Sendable {
    package static let wellKnownPath = "/.well-known/oauth-protected-resource"

    /// Server documents by lower-cased authority and metadata path suffix (`/mcp`, or "").
    private let documents: [String: [UInt8]]

    package init(_ snapshot: PolicySnapshot) {
        var documents: [String: [UInt8]] = [:]
        var byAuthority: [String: [String]] = [:]
        for server in snapshot.policy.servers {
            guard let resource = server.resource?.value, let parts = Self.split(resource) else { continue }
            let authority = parts.authority.lowercased()
            documents[authority + " " + parts.suffix] = Self.document(for: server, in: snapshot)
            byAuthority[authority, default: []].append(parts.suffix)
        }
        // The root form too (`/.well-known/oauth-protected-resource` alone), which clients try
        // when the path-inserted one fails: for a host with one resource only, never a guess.
        for (authority, suffixes) in byAuthority where suffixes.count == 1 && documents[authority + " "] == nil {
            documents[authority + " "] = documents[authority + " " + suffixes[0]]
        }
        self.documents = documents
    }

    /// The document for a request to the well-known path: `host` from the request,
    /// `suffix` the path after the well-known prefix.
    package func document(host: String, suffix: Substring) -> [UInt8]? {
        documents[host.lowercased() + " " + suffix]
    }

    /// Where a resource's metadata lives (RFC 9728 §3.1): the well-known path inserted between
    /// the authority and the resource's path.
    package static func url(forResource resource: String) -> String? {
        guard let parts = split(resource) else { return nil }
        return "\(parts.scheme)://\(parts.authority)\(wellKnownPath)\(parts.suffix)"
    }

    /// The authorization servers a server names, else the `authorization_server` or `issuer`
    /// of each issuer it accepts.
    package static func authorizationServers(for server: ServerConfig, in snapshot: PolicySnapshot) -> [String] {
        if !server.authorizationServers.isEmpty { return server.authorizationServers.map(\.value) }
        var seen = Set<String>()
        return server.issuers.compactMap { id in
            guard let issuer = snapshot.issuers[id.value] else { return nil }
            let url = issuer.authorizationServer?.value ?? issuer.issuer.value
            return seen.insert(url).inserted ? url : nil
        }
    }

    static func document(for server: ServerConfig, in snapshot: PolicySnapshot) -> [UInt8] {
        var json = JSONWriter()
        json.field("resource", server.resource?.value)
        json.field("authorization_servers", authorizationServers(for: server, in: snapshot))
        let scopes = server.advertisedScopes
        if !scopes.isEmpty { json.field("scopes_supported", scopes) }
        json.field("bearer_methods_supported", ["header"])
        if let name = server.resourceName { json.field("resource_name", name) }
        if let documentation = server.resourceDocumentation?.value { json.field("resource_documentation", documentation) }
        // RFC 9728 §2: DPoP, when an issuer the server accepts allows it.
        let modes = server.issuers.compactMap { snapshot.issuers[$0.value]?.dpop }
        if modes.contains(where: { $0 != .off }) {
            json.field("dpop_signing_alg_values_supported", DPoPVerifier.algorithms)
            if !modes.isEmpty, modes.allSatisfy({ $0 == .required }) { json.field("dpop_bound_access_tokens_required", true) }
        }
        return json.finish()
    }

    /// scheme, authority, and path plus query of an absolute URL; the suffix is empty for a
    /// root path.
    private static func split(_ url: String) -> (scheme: String, authority: String, suffix: String)? {
        guard let schemeEnd = url.firstRange(of: "://") else { return nil }
        let scheme = String(url[..<schemeEnd.lowerBound])
        let rest = url[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        let authority = String(rest[..<authorityEnd])
        var suffix = String(rest[authorityEnd...])
        if let hash = suffix.firstIndex(of: "#") { suffix = String(suffix[..<hash]) }
        if suffix == "/" { suffix = "" }
        guard !authority.isEmpty else { return nil }
        return (scheme, authority, suffix)
    }
}
