import Crypto
import Foundation
import MCPAuthzPolicy
import MCPAuthzTokens

/// One loaded policy with everything requests need from it: the compiled snapshot, the token
/// authenticator for its issuers, its revision, and the answers precomputed per server.
///
/// Immutable; a reload builds a new one and swaps it whole, so a request that read it once
/// sees one policy from start to end.
package final class PolicyRuntime: Sendable {
    package let snapshot: PolicySnapshot
    /// The first 16 hex digits of the SHA-256 over every file's name and bytes, in load order.
    package let revision: String
    package let authenticator: TokenAuthenticator
    package let metadata: ProtectedResourceMetadata
    package let challenges: [String: ServerChallenge]
    /// What each issuer's keys come from, to keep a cache across reloads that do not change it.
    let keySources: [String: KeySource]
    package let warnings: [PolicyDiagnostic]

    init(
        snapshot: PolicySnapshot, revision: String, authenticator: TokenAuthenticator, keySources: [String: KeySource],
        warnings: [PolicyDiagnostic]
    ) {
        self.snapshot = snapshot
        self.revision = revision
        self.authenticator = authenticator
        self.keySources = keySources
        self.warnings = warnings
        metadata = ProtectedResourceMetadata(snapshot)
        var challenges: [String: ServerChallenge] = [:]
        for server in snapshot.policy.servers { challenges[server.id.value] = ServerChallenge(server) }
        self.challenges = challenges
    }

    /// The revision of a set of policy files as read.
    package static func revision(of sources: [PolicyLoader.SourceFile]) -> String {
        var hasher = SHA256()
        for source in sources {
            hasher.update(data: Data(source.path.utf8))
            hasher.update(data: Data([0]))
            hasher.update(data: Data(String(source.bytes.count).utf8))
            hasher.update(data: Data([0]))
            hasher.update(data: source.bytes)
        }
        return AuditLine.hex(hasher.finalize().prefix(8))
    }
}

/// The parts of an issuer that decide which keys its cache holds.
struct KeySource: Sendable, Equatable {
    var issuer: String
    var jwksURI: String?
    var jwksFile: String?
    var secretFile: String?
    var algorithms: [String]

    /// Whether the keys come from a local file (a JWKS or a shared secret), read again on reload.
    var readsFile: Bool { jwksFile != nil || secretFile != nil }

    init(_ issuer: IssuerConfig) {
        self.issuer = issuer.issuer.value
        jwksURI = issuer.jwksURI?.value
        jwksFile = issuer.jwksFile?.value
        secretFile = issuer.secretFile?.value
        algorithms = issuer.algorithms.map(\.value)
    }
}

/// The `WWW-Authenticate` values of one server (RFC 6750 §3, RFC 9728 §5.1).
package struct ServerChallenge: Sendable {
    /// Where the server's protected-resource metadata is, when it has a `resource`.
    package let resourceMetadataURL: String?
    let scopesSupported: [String]

    init(_ server: ServerConfig) {
        resourceMetadataURL = server.resource.flatMap { ProtectedResourceMetadata.url(forResource: $0.value) }
        scopesSupported = server.advertisedScopes
    }

    /// For a 401: where to find metadata and which scopes exist; `invalid_token` when the
    /// request carried a token that was refused.
    package func unauthorized(tokenSent: Bool) -> String {
        var parameters: [String] = []
        if tokenSent { parameters.append("error=\"invalid_token\"") }
        if let resourceMetadataURL { parameters.append("resource_metadata=" + HeaderValue.quoted(resourceMetadataURL)) }
        if !scopesSupported.isEmpty { parameters.append("scope=" + HeaderValue.quoted(scopesSupported.joined(separator: " "))) }
        return parameters.isEmpty ? "Bearer" : "Bearer " + parameters.joined(separator: ", ")
    }

    /// For a 401 whose token was good but whose DPoP proof was not (RFC 9449 §7.1): the DPoP
    /// challenge with the algorithms proofs may use.
    package func invalidProof() -> String {
        var parameters = ["error=\"invalid_dpop_proof\"", "algs=" + HeaderValue.quoted(DPoPVerifier.algorithms.joined(separator: " "))]
        if let resourceMetadataURL { parameters.append("resource_metadata=" + HeaderValue.quoted(resourceMetadataURL)) }
        return "DPoP " + parameters.joined(separator: ", ")
    }

    /// For a 403 that more scopes would lift: the scopes this operation needs (SEP-2350: the
    /// client adds them to those it has).
    package func insufficientScope(_ scopes: [String]) -> String {
        let scopes = scopes.filter { !ServerConfig.refreshOnlyScopes.contains($0) }
        var parameters = ["error=\"insufficient_scope\""]
        if !scopes.isEmpty { parameters.append("scope=" + HeaderValue.quoted(scopes.joined(separator: " "))) }
        if let resourceMetadataURL { parameters.append("resource_metadata=" + HeaderValue.quoted(resourceMetadataURL)) }
        return "Bearer " + parameters.joined(separator: ", ")
    }
}
