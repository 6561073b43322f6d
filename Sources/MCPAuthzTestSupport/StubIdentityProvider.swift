import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// An identity provider for tests: serves whatever the test sets per path on 127.0.0.1 (a
/// discovery document, a JWKS, HTML, an error, or nothing for a while) and counts requests.
public final class StubIdentityProvider: Sendable {
    /// What one path answers.
    public struct Response: Sendable {
        public var status: Int
        public var body: [UInt8]
        public var headers: [(String, String)]
        /// Wait this long before answering (a slow IdP).
        public var delay: Duration

        public init(status: Int = 200, body: String, headers: [(String, String)] = [], delay: Duration = .zero) {
            self.status = status
            self.body = Array(body.utf8)
            self.headers = headers
            self.delay = delay
        }

        public static func json(_ body: String, maxAge: Int? = nil, delay: Duration = .zero) -> Response {
            var headers = [("Content-Type", "application/json")]
            if let maxAge { headers.append(("Cache-Control", "public, max-age=\(maxAge)")) }
            return Response(body: body, headers: headers, delay: delay)
        }
    }

    /// A request as received: its headers and body.
    public struct Received: Sendable {
        public var method: String
        public var headers: [(String, String)]
        public var body: [UInt8]

        /// The first value of a header, by case-insensitive name.
        public func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }

        /// The body's `application/x-www-form-urlencoded` fields, decoded.
        public var form: [String: String] {
            var fields: [String: String] = [:]
            for pair in String(decoding: body, as: UTF8.self).split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1).map {
                    String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
                }
                fields[parts[0]] = parts.count > 1 ? parts[1] : ""
            }
            return fields
        }
    }

    private let routes = Mutex<[String: Response]>([:])
    private let counts = Mutex<[String: Int]>([:])
    private let received = Mutex<[String: Received]>([:])
    private let channel: any Channel
    /// `http://127.0.0.1:PORT`
    public let baseURL: String

    private init(channel: any Channel) {
        self.channel = channel
        baseURL = "http://127.0.0.1:\(channel.localAddress?.port ?? 0)"
    }

    /// Starts on an ephemeral port of 127.0.0.1.
    public static func start() async throws -> StubIdentityProvider {
        let box = Mutex<StubIdentityProvider?>(nil)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMapThrowing {
                    guard let provider = box.withLock({ $0 }) else { throw ChannelError.ioOnClosedChannel }
                    try channel.pipeline.syncOperations.addHandler(Handler(provider: provider))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let provider = StubIdentityProvider(channel: channel)
        box.withLock { $0 = provider }
        return provider
    }

    public func stop() async {
        try? await channel.close()
    }

    public func set(_ path: String, _ response: Response?) {
        routes.withLock { $0[path] = response }
    }

    /// Requests received for a path so far.
    public func requests(_ path: String) -> Int {
        counts.withLock { $0[path] ?? 0 }
    }

    /// The last request received for a path.
    public func lastRequest(_ path: String) -> Received? {
        received.withLock { $0[path] }
    }

    fileprivate func respond(to path: String, _ request: Received) -> Response {
        received.withLock { $0[path] = request }
        counts.withLock { $0[path, default: 0] += 1 }
        return routes.withLock { $0[path] } ?? Response(status: 404, body: "not found")
    }

    private final class Handler: ChannelInboundHandler, @unchecked Sendable {
        // @unchecked: NIO calls a handler only on its channel's event loop.
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let provider: StubIdentityProvider
        private var head: HTTPRequestHead?
        private var body: [UInt8] = []

        init(provider: StubIdentityProvider) { self.provider = provider }

        /// Answers once the whole request is in.
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case let .head(head):
                self.head = head
                body = []
                return
            case var .body(buffer):
                body += buffer.readBytes(length: buffer.readableBytes) ?? []
                return
            case .end:
                break
            }
            guard let head else { return }
            self.head = nil
            let path = String(head.uri.split(separator: "?", maxSplits: 1).first ?? "")
            let request = Received(method: head.method.rawValue, headers: head.headers.map { ($0.name, $0.value) }, body: body)
            let response = provider.respond(to: path, request)
            let loop = context.eventLoop
            let bound = NIOLoopBound(context, eventLoop: loop)
            loop.scheduleTask(in: TimeAmount(response.delay)) {
                let context = bound.value
                var headers = HTTPHeaders(response.headers)
                headers.add(name: "Content-Length", value: String(response.body.count))
                headers.add(name: "Connection", value: "close")
                let head = HTTPResponseHead(version: .http1_1, status: .init(statusCode: response.status), headers: headers)
                context.write(NIOAny(HTTPServerResponsePart.head(head)), promise: nil)
                context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: response.body)))), promise: nil)
                context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil))).whenComplete { _ in context.close(promise: nil) }
            }
        }
    }
}
