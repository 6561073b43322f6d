import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOPosix
import Testing

@testable import MCPAuthzServer

/// The event-loop fast path for `/auth`, over raw connections: what a proxy's keep-alive
/// connection sees must not depend on which path answered.
@Suite struct ForwardAuthFastPathTests {
    /// Sends `request` bytes on a new connection and reads until `done` holds for what came
    /// back, or the server closes the connection (`closed`).
    static func exchange(port: Int, _ request: String, done: @escaping @Sendable (String) -> Bool) async throws -> (
        text: String, closed: Bool
    ) {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port) {
            channel in
            channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
        }
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: request))
            var text = ""
            for try await chunk in inbound {
                text += String(buffer: chunk)
                if done(text) { return (text, false) }
            }
            return (text, true)
        }
    }

    static func forwardAuth(_ token: String?, tool: String = "get_todo", extra: String = "") -> String {
        var request = "GET /auth HTTP/1.1\r\nHost: sidecar\r\nX-Forwarded-Host: todos.test.example\r\nX-Original-URI: /mcp\r\n"
        request += "X-Original-Method: POST\r\nMCP-Protocol-Version: 2026-07-28\r\nMcp-Method: tools/call\r\nMcp-Name: \(tool)\r\n"
        if let token { request += "Authorization: Bearer \(token)\r\n" }
        return request + extra + "\r\n"
    }

    /// The status codes of the responses in `text`, in order (a body may run into the next
    /// status line: "ok\nHTTP/1.1 401 ...").
    static func statuses(_ text: String) -> [String] {
        text.components(separatedBy: "HTTP/1.1 ").dropFirst().map { String($0.prefix(3)) }
    }

    /// A forward-auth head as NIO's HTTP/1 decoder hands it to the fast path.
    static func authHead(_ token: String?, method: HTTPMethod = .GET, extra: [(String, String)] = []) -> HTTPRequestHead {
        var headers = HTTPHeaders([
            ("Host", "sidecar"), ("X-Forwarded-Host", "todos.test.example"), ("X-Original-URI", "/mcp"), ("X-Original-Method", "POST"),
            ("MCP-Protocol-Version", "2026-07-28"), ("Mcp-Method", "tools/call"), ("Mcp-Name", "get_todo"),
        ])
        if let token { headers.add(name: "Authorization", value: "Bearer " + token) }
        headers.add(contentsOf: extra)
        return HTTPRequestHead(version: .http1_1, method: method, uri: "/auth", headers: headers)
    }

    @Test func aPlainAuthRequestIsAnsweredInPlaceAndEverythingElseHandedOn() async throws {
        try await withSidecar { sidecar in
            // Until the issuer's keys are loaded, the fast path hands requests on; one decision
            // through Hummingbird waits for them.
            #expect(try await sidecar.callTool("get_todo", token: sidecar.token("reader")).status == .ok)
            let channel = EmbeddedChannel(
                handler: ForwardAuthFastPath(endpoint: sidecar.sidecar.application.responder.forwardAuth, idleTimeout: nil, maxPipelined: 16))
            let reader = sidecar.token("reader")
            try channel.writeInbound(HTTPServerRequestPart.head(Self.authHead(reader)))
            try channel.writeInbound(HTTPServerRequestPart.end(nil))
            #expect(try channel.readInbound(as: HTTPServerRequestPart.self) == nil, "answered here, not handed on")
            guard case let .head(response)? = try channel.readOutbound(as: HTTPServerResponsePart.self) else {
                Issue.record("no response head")
                return
            }
            #expect(response.status == .ok)
            #expect(response.headers["X-Authz-Subject"] == ["user-reader"])
            #expect(response.headers["Content-Length"] == ["0"])
            guard case .end? = try channel.readOutbound(as: HTTPServerResponsePart.self) else {
                Issue.record("no response end")
                return
            }
            // Anything else goes on to Hummingbird untouched: another path, Envoy's /auth/<path>,
            // a body, chunked, Connection: close, HTTP/1.0, HEAD, two Host headers.
            var http10 = Self.authHead(reader)
            http10.version = .http1_0
            let others = [
                HTTPRequestHead(version: .http1_1, method: .GET, uri: "/healthz", headers: ["Host": "sidecar"]),
                HTTPRequestHead(version: .http1_1, method: .GET, uri: "/auth/mcp", headers: ["Host": "sidecar"]),
                Self.authHead(reader, method: .POST, extra: [("Content-Length", "2")]),
                Self.authHead(reader, method: .POST, extra: [("Transfer-Encoding", "chunked")]),
                Self.authHead(reader, extra: [("Connection", "close")]), http10, Self.authHead(reader, method: .HEAD),
                Self.authHead(reader, extra: [("Host", "other")]),
            ]
            for head in others {
                try channel.writeInbound(HTTPServerRequestPart.head(head))
                try channel.writeInbound(HTTPServerRequestPart.end(nil))
                #expect(try channel.readInbound(as: HTTPServerRequestPart.self) == .head(head))
                #expect(try channel.readInbound(as: HTTPServerRequestPart.self) == .end(nil))
                #expect(try channel.readOutbound(as: HTTPServerResponsePart.self) == nil)
                try channel.writeOutbound(HTTPServerResponsePart.end(nil))  // Hummingbird's answer ends
                _ = try channel.readOutbound(as: HTTPServerResponsePart.self)
            }
            // With every answer written, the next plain request is answered here again.
            try channel.writeInbound(HTTPServerRequestPart.head(Self.authHead(reader)))
            try channel.writeInbound(HTTPServerRequestPart.end(nil))
            #expect(try channel.readInbound(as: HTTPServerRequestPart.self) == nil)
            _ = try channel.finish()
        }
    }

    /// Counts the shutdown notices that reach the handlers after the fast path.
    final class QuiesceRecorder: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        var seen = 0
        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if event is ChannelShouldQuiesceEvent { seen += 1 }
        }
    }

    @Test func shutdownWaitsForTheRequestBeingAnsweredHere() async throws {
        try await withSidecar { sidecar in
            #expect(try await sidecar.callTool("get_todo", token: sidecar.token("reader")).status == .ok)
            let recorder = QuiesceRecorder()
            let channel = EmbeddedChannel(handlers: [
                ForwardAuthFastPath(endpoint: sidecar.sidecar.application.responder.forwardAuth, idleTimeout: nil, maxPipelined: 16), recorder,
            ])
            try channel.writeInbound(HTTPServerRequestPart.head(Self.authHead(nil, method: .POST)))
            channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
            #expect(recorder.seen == 0, "held back while the request is half read")
            try channel.writeInbound(HTTPServerRequestPart.end(nil))
            guard case let .head(response)? = try channel.readOutbound(as: HTTPServerResponsePart.self) else {
                Issue.record("no response head")
                return
            }
            #expect(response.status == .unauthorized)
            #expect(recorder.seen == 1, "passed on once the answer is written")
            channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
            #expect(recorder.seen == 2, "passed on at once between requests")
            _ = try channel.finish(acceptAlreadyClosed: true)
        }
    }

    /// Forward-auth answers the fast path has written, from the metric.
    static func fastPathAnswers(_ sidecar: SidecarUnderTest) -> Int {
        let text = String(decoding: sidecar.sidecar.metrics.exposition(), as: UTF8.self)
        let line = text.split(separator: "\n").first { $0.hasPrefix("mcp_authz_forward_auth_fast_path_answers_total ") }
        return line.flatMap { Int($0.split(separator: " ")[1]) } ?? 0
    }

    /// The same questions answered by the fast path and by Hummingbird (made to take it by
    /// `Connection: close`) get the same status and the same headers, decision ids aside; the
    /// metric proves which path answered each.
    @Test func bothPathsGiveTheSameAnswers() async throws {
        try await withSidecar { sidecar in
            #expect(try await sidecar.callTool("get_todo", token: sidecar.token("reader")).status == .ok)
            let reader = sidecar.token("reader")
            let cases: [(token: String?, tool: String)] = [
                (reader, "get_todo"), (nil, "get_todo"), (reader, "get_billing"), ("not.a.token", "get_todo"),
                // HTTP drops the white space around a value (the attack suite found the fast
                // path reading it raw); tabs inside stay.
                (reader, "get_todo \t "), (reader, " \tget_todo"), (reader, "get\ttodo"),
            ]
            for (token, tool) in cases {
                let before = Self.fastPathAnswers(sidecar)
                let fast = try await Self.exchange(port: sidecar.port, Self.forwardAuth(token, tool: tool)) { $0.contains("\r\n\r\n") }
                #expect(Self.fastPathAnswers(sidecar) == before + 1, "the fast path answered \(tool)")
                let general = try await Self.exchange(port: sidecar.port, Self.forwardAuth(token, tool: tool, extra: "Connection: close\r\n")) {
                    _ in false
                }
                #expect(Self.fastPathAnswers(sidecar) == before + 1, "Hummingbird answered \(tool) with Connection: close")
                let (fastStatus, fastHeaders) = Self.head(fast.text)
                let (generalStatus, generalHeaders) = Self.head(general.text)
                #expect(fastStatus == generalStatus, "\(tool) with \(token == nil ? "no token" : "a token")")
                #expect(fastHeaders == generalHeaders, "\(tool): \(fastHeaders) vs \(generalHeaders)")
            }
        }
    }

    /// The fast path reads NIO's raw values through `HeaderValue.legalized`; Swift HTTP types,
    /// which the general path reads, must agree on every value.
    @Test func fieldValuesReadAsSwiftHTTPTypesReadThem() {
        let pieces = ["a", "get_todo", " ", "\t", "\u{0}", "\u{1}", "\u{7F}", "\r", "\n", "é", "\u{1F600}", "%", "\""]
        var generator = SystemRandomNumberGenerator()
        var values = ["", " ", "\t \t", "plain", " padded ", "\tx\t", "in side", "a\u{0}b", "\u{7F}x\u{7F}"]
        for _ in 0..<2000 {
            values.append((0..<Int.random(in: 1...8, using: &generator)).map { _ in pieces.randomElement(using: &generator)! }.joined())
        }
        for value in values {
            let expected = HTTPField(name: .authorization, value: value).value
            #expect(HeaderValue.legalized(value) == expected, "\(Array(value.utf8))")
        }
    }

    /// The status line and the headers, lower-cased, without the ones that differ by nature:
    /// the decision id, the date and the connection header.
    static func head(_ text: String) -> (String, [String]) {
        let lines = text.components(separatedBy: "\r\n\r\n")[0].components(separatedBy: "\r\n")
        let headers = lines.dropFirst().map { $0.lowercased() }.filter {
            !$0.hasPrefix("x-authz-decision-id:") && !$0.hasPrefix("date:") && !$0.hasPrefix("connection:")
        }
        return (lines[0], headers.sorted())
    }

    @Test func pipelinedRequestsAreAnsweredInOrderWhicheverPathAnswers() async throws {
        let audit = FileManager.default.temporaryDirectory.appendingPathComponent("fast-path-\(UUID().uuidString).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: audit) }
        try await withSidecar(configure: { $0.audit.destinations = [.file(audit)] }) { sidecar in
            let reader = sidecar.token("reader")
            let body = #"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_billing"}}"#
            let withBody =
                "POST /auth HTTP/1.1\r\nHost: sidecar\r\nX-Forwarded-Host: todos.test.example\r\nX-Original-URI: /mcp\r\n"
                + "X-Original-Method: POST\r\nAuthorization: Bearer \(reader)\r\nContent-Type: application/json\r\n"
                + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
            // Fast (allowed), Hummingbird (/healthz), fast (no token), Hummingbird (a body), fast (denied).
            let requests = [
                Self.forwardAuth(reader), "GET /healthz HTTP/1.1\r\nHost: sidecar\r\n\r\n", Self.forwardAuth(nil), withBody,
                Self.forwardAuth(reader, tool: "get_billing"),
            ]
            let (text, closed) = try await Self.exchange(port: sidecar.port, requests.joined()) { Self.statuses($0).count == 5 }
            #expect(!closed)
            #expect(Self.statuses(text) == ["200", "200", "401", "403", "403"])
            let answers = text.components(separatedBy: "HTTP/1.1 ").dropFirst().map { $0.lowercased() }
            #expect(answers[0].contains("x-authz-subject: user-reader"))
            #expect(answers[1].hasSuffix("ok\n"))
            #expect(answers[2].contains("www-authenticate: bearer"))
            #expect(answers[3].contains("x-authz-reason: no_matching_rule"))
            #expect(answers[4].contains("x-authz-reason: no_matching_rule") && answers[4].contains("insufficient_scope"))
            // Every decision, from either path, is in the audit log under its decision id.
            let ids = answers.compactMap { answer in
                answer.components(separatedBy: "\r\n").first { $0.hasPrefix("x-authz-decision-id: ") }?.dropFirst(21)
            }
            #expect(ids.count == 4)
            try await Task.sleep(for: .milliseconds(300))
            let lines = try String(contentsOfFile: audit, encoding: .utf8)
            for id in ids { #expect(lines.contains(#""decision_id":"\#(id)""#), "decision \(id) is audited") }
        }
    }

    @Test func connectionCloseIsHonouredOnTheFastPath() async throws {
        try await withSidecar { sidecar in
            let (text, closed) = try await Self.exchange(
                port: sidecar.port, Self.forwardAuth(sidecar.token("reader"), extra: "Connection: close\r\n")
            ) { _ in false }
            #expect(Self.statuses(text) == ["200"])
            #expect(closed)
        }
    }

    @Test func idleConnectionsAreClosedAndBusyOnesKept() async throws {
        try await withSidecar(configure: { $0.idleTimeout = .seconds(1) }) { sidecar in
            let port = sidecar.port
            // One request, then silence: closed within two timeouts.
            let started = ContinuousClock.now
            let (text, closed) = try await Self.exchange(port: port, Self.forwardAuth(sidecar.token("reader"))) { _ in false }
            #expect(Self.statuses(text) == ["200"])
            #expect(closed)
            #expect(started.duration(to: .now) < .seconds(3))
        }
        try await withSidecar(configure: { $0.idleTimeout = .seconds(1) }) { sidecar in
            // A request every 300 ms for 2.4 s, all answered by the fast path: never closed.
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: sidecar.port) {
                channel in
                channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
            }
            let answered = try await channel.executeThenClose { inbound, outbound in
                var iterator = inbound.makeAsyncIterator()
                var count = 0
                for _ in 0..<8 {
                    try await outbound.write(ByteBuffer(string: Self.forwardAuth(sidecar.token("reader"))))
                    var text = ""
                    while Self.statuses(text).isEmpty || !text.hasSuffix("\r\n\r\n") {
                        guard let chunk = try await iterator.next() else { return count }
                        text += String(buffer: chunk)
                    }
                    count += 1
                    try await Task.sleep(for: .milliseconds(300))
                }
                return count
            }
            #expect(answered == 8)
        }
    }
}
