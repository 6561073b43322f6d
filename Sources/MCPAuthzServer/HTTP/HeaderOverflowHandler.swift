import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// Answers `431 Request Header Fields Too Large` to a request whose header block is over the
/// limit (`--max-header-bytes`), where the HTTP layer would answer every parse error with 400;
/// then closes the connection. The refusal is counted and audited: it never reaches a decision.
final class HeaderOverflowHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundOut = HTTPResponsePart

    /// The reason code in the audit record and the metric.
    static let reason = "header_too_large"

    private let onRefusal: @Sendable () -> Void

    init(onRefusal: @escaping @Sendable () -> Void) {
        self.onRefusal = onRefusal
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parserError = error as? HTTPParserError, parserError == .headerOverflow else {
            context.fireErrorCaught(error)
            return
        }
        onRefusal()
        var fields = HTTPFields()
        fields[.connection] = "close"
        fields[.contentLength] = "0"
        context.write(wrapOutboundOut(.head(HTTPResponse(status: .requestHeaderFieldsTooLarge, headerFields: fields))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
    }
}
