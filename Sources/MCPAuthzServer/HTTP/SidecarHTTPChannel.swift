import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// The sidecar's HTTP/1 connections: Hummingbird's own pipeline (`HTTP1Channel`) with
/// `ForwardAuthFastPath` placed between NIO's HTTP/1 codec and the conversion to Swift HTTP
/// types, so that forward-auth calls are answered from NIO's parsed head on the event loop.
///
/// Everything the fast path hands on meets the same handlers, in the same order, as under
/// `HTTP1Channel`: the HTTP types conversion, the `additionalHandlers`, Hummingbird's connection
/// state (keep-alive, shutdown) and its responder. Idle connections are closed by the fast path,
/// the one handler that sees every request.
struct SidecarHTTPChannel: ServerChildChannel, HTTPChannelHandler {
    typealias Value = NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>

    let responder: HTTPChannelHandler.Responder
    let forwardAuth: ForwardAuthEndpoint
    let idleTimeout: TimeAmount?
    let maxPipelined: Int
    let decoderLimits: NIOHTTPDecoderLimitConfiguration
    let additionalHandlers: @Sendable () -> [any RemovableChannelHandler]

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let pipeline = channel.pipeline.syncOperations
            try pipeline.configureHTTPServerPipeline(
                withPipeliningAssistance: false,  // the fast path and NIOAsyncChannel keep answers in order
                withErrorHandling: false,  // Hummingbird answers parse errors
                // Hummingbird's answers are checked as Swift HTTP types; the fast path's here.
                withOutboundHeaderValidation: true,
                withEncoderConfiguration: .init(),
                withDecoderLimitConfiguration: decoderLimits
            )
            try pipeline.addHandler(ForwardAuthFastPath(endpoint: forwardAuth, idleTimeout: idleTimeout, maxPipelined: maxPipelined))
            try pipeline.addHandler(HTTP1ToHTTPServerCodec(secure: false))
            try pipeline.addHandlers(additionalHandlers())
            try pipeline.addHandler(HTTPConnectionStateHandler(idleTimeout: nil, logger: logger))
            return try NIOAsyncChannel(wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
        }
    }

    func handle(value asyncChannel: Value, logger: Logger) async {
        await handleHTTP(asyncChannel: asyncChannel, logger: logger)
    }
}
