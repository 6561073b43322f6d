import AsyncHTTPClient
import Foundation
import MCPAuthzPolicy
import NIOCore
import NIOHTTP1

/// Asks a running MCP server (Streamable HTTP) for its tools, as a client would: `initialize`,
/// `notifications/initialized`, then `tools/list` page by page. What `mcp-authz catalog fetch`
/// writes for a policy owner to review and keep beside the policy.
///
/// Only the URL given is asked, never one an answer names; every answer is bounded.
package struct CatalogFetcher: Sendable {
    package var url: String
    /// Headers sent with every request (`Authorization`, a proxy's own).
    package var headers: [(name: String, value: String)]
    package var timeout: TimeAmount
    /// Largest answer read.
    package var maxBytes: Int
    /// Most `tools/list` pages followed.
    package var maxPages: Int

    package init(url: String, headers: [(name: String, value: String)] = [], timeout: TimeAmount = .seconds(10)) {
        self.url = url
        self.headers = headers
        self.timeout = timeout
        maxBytes = 8 << 20
        maxPages = 100
    }

    /// The protocol revision asked for: one every server of the last two eras speaks.
    static let protocolVersion = "2025-11-25"

    /// The server's tools as a `tools/list` result: `{"tools": [...]}`.
    package func fetch(client: HTTPClient = .shared) async throws(CatalogFetchError) -> ClaimValue {
        var session: String?
        let initialize = try await call(
            client, id: 1, method: "initialize",
            params: [
                "protocolVersion": .string(Self.protocolVersion), "capabilities": .object([:]),
                "clientInfo": .object(["name": .string("mcp-authz catalog fetch"), "version": .string("1")]),
            ],
            session: &session
        )
        let version = initialize["protocolVersion"]?.stringValue ?? Self.protocolVersion
        _ = try await send(client, ["jsonrpc": .string("2.0"), "method": .string("notifications/initialized")], session: &session, version: version)
        var tools: [ClaimValue] = []
        var cursor: String?
        for page in 0..<maxPages {
            var params: [String: ClaimValue] = [:]
            if let cursor { params["cursor"] = .string(cursor) }
            let result = try await call(client, id: Int64(page + 2), method: "tools/list", params: params, session: &session, version: version)
            guard case let .array(entries)? = result["tools"] else { throw CatalogFetchError("tools/list answered no 'tools' list") }
            tools += entries
            guard case let .string(next)? = result["nextCursor"], !next.isEmpty else {
                if let session { await end(client, session: session, version: version) }
                return .object(["tools": .array(tools)])
            }
            cursor = next
        }
        throw CatalogFetchError("tools/list did not end within \(maxPages) pages")
    }

    /// One request and its result (an error answer throws).
    private func call(
        _ client: HTTPClient, id: Int64, method: String, params: [String: ClaimValue], session: inout String?, version: String? = nil
    ) async throws(CatalogFetchError) -> [String: ClaimValue] {
        let message: [String: ClaimValue] = ["jsonrpc": .string("2.0"), "id": .integer(id), "method": .string(method), "params": .object(params)]
        let (contentType, body) = try await send(client, message, session: &session, version: version)
        let messages = try Self.messages(in: body, contentType: contentType)
        guard case let .object(answer)? = messages.first(where: { ($0.objectValue?["id"]).map { $0.matches(.integer(id)) } ?? false }) else {
            throw CatalogFetchError("\(method): no answer with id \(id)")
        }
        if case let .object(error)? = answer["error"] {
            throw CatalogFetchError("\(method) failed: \(error["message"]?.stringValue ?? "error") (\(error["code"]?.description ?? "?"))")
        }
        guard case let .object(result)? = answer["result"] else { throw CatalogFetchError("\(method): the answer has no result") }
        return result
    }

    /// One POST; the answer's content type and body.
    private func send(
        _ client: HTTPClient, _ message: [String: ClaimValue], session: inout String?, version: String?
    ) async throws(CatalogFetchError) -> (String, [UInt8]) {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: "application/json, text/event-stream")
        if let version { request.headers.add(name: "MCP-Protocol-Version", value: version) }
        if let session { request.headers.add(name: "Mcp-Session-Id", value: session) }
        for header in headers { request.headers.add(name: header.name, value: header.value) }
        request.body = .bytes(ByteBuffer(string: ClaimValue.object(message).jsonText))
        do {
            let response = try await client.execute(request, timeout: timeout)
            var body = try await response.body.collect(upTo: maxBytes)
            let bytes = body.readBytes(length: body.readableBytes) ?? []
            guard (200..<300).contains(response.status.code) else {
                let text = String(decoding: bytes.prefix(300), as: UTF8.self)
                throw CatalogFetchError("\(url) answered \(response.status.code)\(text.isEmpty ? "" : ": \(text)")")
            }
            if let id = response.headers.first(name: "Mcp-Session-Id") { session = id }
            return (response.headers.first(name: "Content-Type") ?? "", bytes)
        } catch let error as CatalogFetchError {
            throw error
        } catch let error as NIOTooManyBytesError {
            throw CatalogFetchError("\(url): an answer is larger than \(maxBytes) bytes (\(error))")
        } catch {
            throw CatalogFetchError("\(url): \(error)")
        }
    }

    /// Ends the session, as a polite client does; a failure changes nothing.
    private func end(_ client: HTTPClient, session: String, version: String) async {
        var request = HTTPClientRequest(url: url)
        request.method = .DELETE
        request.headers.add(name: "Mcp-Session-Id", value: session)
        request.headers.add(name: "MCP-Protocol-Version", value: version)
        for header in headers { request.headers.add(name: header.name, value: header.value) }
        _ = try? await client.execute(request, timeout: timeout)
    }

    /// The JSON-RPC messages of an answer: one JSON body (a message or a batch), or the data of
    /// each complete event of an SSE stream.
    package static func messages(in body: [UInt8], contentType: String) throws(CatalogFetchError) -> [ClaimValue] {
        let type = contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        var texts: [String] = []
        switch type {
        case "application/json":
            texts = [String(decoding: body, as: UTF8.self)]
        case "text/event-stream":
            var data: [String] = []
            var lines = String(decoding: body, as: UTF8.self).split(omittingEmptySubsequences: false) { character in
                character == "\n" || character == "\r\n" || character == "\r"
            }
            // What follows the last line end is a line never finished.
            lines.removeLast()
            for line in lines {
                if line.isEmpty {
                    if !data.isEmpty { texts.append(data.joined(separator: "\n")) }
                    data = []
                } else if line.hasPrefix("data:") {
                    let value = line.dropFirst(5)
                    data.append(String(value.hasPrefix(" ") ? value.dropFirst() : value))
                }
            }
        default:
            throw CatalogFetchError("the answer is \(type.isEmpty ? "of no content type" : type), not JSON or an event stream")
        }
        var messages: [ClaimValue] = []
        for text in texts {
            do {
                let value = try ClaimValue.parseJSON(Array(text.utf8), maxDepth: 64)
                if case let .array(batch) = value { messages += batch } else { messages.append(value) }
            } catch {
                throw CatalogFetchError("an answer is not JSON: \(error.description)")
            }
        }
        return messages
    }
}

/// Why a catalog could not be fetched.
package struct CatalogFetchError: Error, Sendable, CustomStringConvertible {
    package var description: String

    init(_ description: String) {
        self.description = description
    }
}

extension ClaimValue {
    var objectValue: [String: ClaimValue]? {
        if case let .object(object) = self { return object }
        return nil
    }
}
