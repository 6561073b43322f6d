import Logging
import Metrics
import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Pauses accepting connections while the process is out of file descriptors (or the kernel
/// out of memory for sockets), instead of spinning.
///
/// When `accept` fails with `EMFILE`, NIO reports the error but keeps the listening socket
/// registered for reading, and the pending connection keeps it readable: the loop then calls
/// `accept` thousands of times a second at 100% of a core (NIO's own `AcceptBackoffHandler`
/// only delays later `read` calls, and none comes). This handler, first on the listening
/// channel, turns reading off on such an error and back on after a pause that doubles up to a
/// second while the failures go on. It logs once per episode, when it starts and when a
/// connection is accepted again, and counts every failure.
final class AcceptFailureHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = any Channel
    typealias InboundOut = any Channel

    static let firstPause = TimeAmount.milliseconds(50)
    static let longestPause = TimeAmount.seconds(1)

    private let logger: Logger
    private let failures: Metrics.Counter
    private var pause: TimeAmount?
    private var failuresInEpisode = 0

    init(logger: Logger, failures: Metrics.Counter) {
        self.logger = logger
        self.failures = failures
    }

    /// Errors `accept` returns when resources run out; anything else is not ours to handle.
    static func isResourceExhaustion(_ error: any Error) -> Bool {
        guard let io = error as? IOError else { return false }
        return [EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(io.errnoCode)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard Self.isResourceExhaustion(error), let options = context.channel.syncOptions else {
            context.fireErrorCaught(error)
            return
        }
        failures.increment()
        failuresInEpisode += 1
        let next = pause.map { min($0 * 2, Self.longestPause) } ?? Self.firstPause
        if pause == nil {
            logger.error(
                "cannot accept connections; pausing accepts until it can",
                metadata: ["accept.error": "\(String(cString: strerror((error as! IOError).errnoCode)))"]
            )
        }
        pause = next
        try? options.setOption(ChannelOptions.autoRead, value: false)
        context.eventLoop.assumeIsolated().scheduleTask(in: next) {
            try? context.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: true)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if pause != nil {
            logger.warning("accepting connections again", metadata: ["accept.failures": "\(failuresInEpisode)"])
            pause = nil
            failuresInEpisode = 0
        }
        context.fireChannelRead(data)
    }
}
