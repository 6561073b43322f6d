import AsyncHTTPClient
import Foundation
import MCPAuthzPolicy
import NIOCore
import NIOHTTP1

/// Fetches discovery and JWKS documents over HTTP(S) with a deadline and a size bound.
package struct JWKSFetcher: Sendable {
    package let client: HTTPClient
    package let timeout: Duration
    package let maxBytes: Int

    package init(client: HTTPClient, timeout: Duration, maxBytes: Int) {
        self.client = client
        self.timeout = timeout
        self.maxBytes = maxBytes
    }

    /// The HTTP client key fetching should use: no redirects (a JWKS location is configured or
    /// discovered, never handed over by a 3xx that could lead to plain http or another host),
    /// a connect deadline, and no connection retries: an IdP that refuses connections fails
    /// the fetch at once instead of costing the whole deadline (the last good keys keep
    /// serving, and the next refresh tries again). The caller owns it and shuts it down.
    package static func makeHTTPClient(connectTimeout: Duration = .seconds(5)) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.timeout = .init(connect: TimeAmount(connectTimeout))
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    struct Document {
        var body: Data
        /// `Cache-Control: max-age`, in seconds, when present.
        var maxAge: Int?
    }

    func get(_ url: String) async throws(JWKSFetchError) -> Document {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: "application/json")
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: TimeAmount(timeout))
        } catch {
            throw JWKSFetchError("GET \(url) failed: \(Self.reason(error))", cause: error)
        }
        guard response.status == .ok else {
            throw JWKSFetchError("GET \(url) answered \(response.status.code)")
        }
        let body: ByteBuffer
        do {
            body = try await response.body.collect(upTo: maxBytes)
        } catch {
            throw JWKSFetchError("GET \(url): body larger than \(maxBytes) bytes or cut short")
        }
        return Document(body: Data(body.readableBytesView), maxAge: Self.maxAge(response.headers["Cache-Control"]))
    }

    /// Why a fetch failed, in words: what the system or the HTTP client said, without Swift
    /// type names.
    static func reason(_ error: any Error) -> String {
        if let socket = SocketErrorText.reason(error) { return socket }
        if let client = error as? HTTPClientError {
            switch client {
            case .connectTimeout, .getConnectionFromPoolTimeout: return "no connection within the fetch timeout"
            case .deadlineExceeded, .readTimeout: return "no answer within the fetch timeout"
            case .remoteConnectionClosed: return "the server closed the connection"
            case .tlsHandshakeTimeout: return "the TLS handshake did not finish in time"
            case .alreadyShutdown, .cancelled: return "the fetch was cancelled (shutting down)"
            default: break
            }
        }
        if error is ChannelError { return "the connection failed" }
        let text = "\(error)"
        // Other errors print as `Type.case`; keep only the case.
        return text.split(separator: ".").last.map(String.init) ?? text
    }

    static func maxAge(_ values: [String]) -> Int? {
        for directive in values.flatMap({ $0.split(separator: ",") }) {
            let parts = directive.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "max-age", let seconds = Int(parts[1]), seconds >= 0 {
                return seconds
            }
        }
        return nil
    }

    /// The JWKS URL of an issuer from its metadata: OIDC discovery, then RFC 8414. The document
    /// must name the same issuer, and its `jwks_uri` must be https (plain http for loopback only).
    func discoverJWKSURI(issuer: String) async throws(JWKSFetchError) -> String {
        var problems: [String] = []
        for url in Self.metadataURLs(issuer: issuer) {
            do {
                let document = try await get(url)
                guard let object = try? JSONSerialization.jsonObject(with: document.body) as? [String: Any] else {
                    problems.append("\(url): not a JSON object")
                    continue
                }
                guard object["issuer"] as? String == issuer else {
                    problems.append("\(url): names another issuer")
                    continue
                }
                guard let jwksURI = object["jwks_uri"] as? String, Self.isAcceptableURL(jwksURI) else {
                    problems.append("\(url): no https jwks_uri")
                    continue
                }
                return jwksURI
            } catch {
                problems.append(error.message)
            }
        }
        throw JWKSFetchError("discovery failed: " + problems.joined(separator: "; "))
    }

    /// `{issuer}/.well-known/openid-configuration`, then `https://host/.well-known/oauth-authorization-server{path}`.
    static func metadataURLs(issuer: String) -> [String] {
        let trimmed = issuer.hasSuffix("/") ? String(issuer.dropLast()) : issuer
        var urls = [trimmed + "/.well-known/openid-configuration"]
        if let schemeEnd = trimmed.range(of: "://") {
            let afterScheme = trimmed[schemeEnd.upperBound...]
            let hostEnd = afterScheme.firstIndex(of: "/") ?? afterScheme.endIndex
            let origin = trimmed[..<hostEnd]
            let path = afterScheme[hostEnd...]
            urls.append(origin + "/.well-known/oauth-authorization-server" + path)
        }
        return urls
    }

    static func isAcceptableURL(_ url: String) -> Bool {
        URLRule.problem(url) == nil
    }
}

/// A fetch that did not produce a document: a sentence for the log, and what caused it.
package struct JWKSFetchError: Error, Sendable, CustomStringConvertible {
    package var message: String
    /// The error underneath (the HTTP client's, the system's), when there was one.
    package var cause: (any Error)?

    init(_ message: String, cause: (any Error)? = nil) {
        self.message = message
        self.cause = cause
    }

    package var description: String { message }
}
