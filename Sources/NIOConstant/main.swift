import NIOCore
import NIOHTTP1
import NIOPosix

// The benchmark's reference for the HTTP stack mcp-authz is built on: SwiftNIO's HTTP/1 server
// pipeline, set up as the sidecar sets it up (no pipelining assistance, header validation on),
// on one event loop, answering every request `204 No Content` without looking at it. What
// mcp-authz adds to a request is measured against this (bench/run.py, contestant H).
//
//     nio-constant PORT

/// Answers each request at its end, as the sidecar's fast path does.
final class ConstantAnswer: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .end = unwrapInboundIn(data) else { return }
        let head = HTTPResponseHead(version: .http1_1, status: .noContent, headers: ["Content-Length": "0"])
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}

guard CommandLine.arguments.count == 2, let port = Int(CommandLine.arguments[1]) else {
    print("usage: nio-constant PORT")
    exit(2)
}
let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
let server = try ServerBootstrap(group: group)
    .serverChannelOption(.backlog, value: 256)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
    .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                withPipeliningAssistance: false, withErrorHandling: true, withOutboundHeaderValidation: true
            )
            try channel.pipeline.syncOperations.addHandler(ConstantAnswer())
        }
    }
    .bind(host: "127.0.0.1", port: port)
    .wait()
print("listening on 127.0.0.1:\(port)")
try server.closeFuture.wait()
