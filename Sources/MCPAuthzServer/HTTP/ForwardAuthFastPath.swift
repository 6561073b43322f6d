import Metrics
import NIOCore
import NIOHTTP1

/// Answers `/auth` on the event loop, from NIO's parsed HTTP/1 head, when the decision needs
/// no waiting; hands every other request on to Hummingbird unchanged.
///
/// Forward auth is the hot path. Through Hummingbird a request is converted to Swift HTTP
/// types, crosses into Swift concurrency through `NIOAsyncChannel`, and its answer comes back
/// the same way; that machinery cost more than the decision itself (bench/RESULTS.md). A plain
/// `/auth` request is decided by `ForwardAuthEndpoint.answerNow` (a cached or locally
/// verifiable token, the policy in force) and written here, once its audit record is kept as
/// `--audit-durability` asks (queued, or written: `FastAnswer`);
/// otherwise, and for anything else, the parts go on to Hummingbird, which decides with the
/// same code. What happens when is `ForwardAuthConnection`'s to say (order of answers, when to
/// stop reading, idleness); this handler carries it out on the channel.
final class ForwardAuthFastPath: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let endpoint: ForwardAuthEndpoint
    private var state: ForwardAuthConnection
    private var idleCheck: Scheduled<Void>?

    init(endpoint: ForwardAuthEndpoint, idleTimeout: TimeAmount?, maxPipelined: Int, now: NIODeadline = .now()) {
        self.endpoint = endpoint
        self.state = ForwardAuthConnection(maxPipelined: maxPipelined, idleTimeout: idleTimeout, now: now)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        perform(state.read(unwrapInboundIn(data), now: context.eventLoop.now), context: context)
    }

    private func perform(_ action: ForwardAuthConnection.InboundAction, context: ChannelHandlerContext) {
        switch action {
        case .none:
            break
        case let .forward(part):
            context.fireChannelRead(wrapInboundOut(part))
        case let .forwardHeld(head, part):
            context.fireChannelRead(wrapInboundOut(.head(head)))
            context.fireChannelRead(wrapInboundOut(part))
        case let .decide(head):
            decide(head, context: context)
        }
    }

    /// Decides a request here, or hands it on when it cannot be decided without waiting.
    private func decide(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        switch endpoint.answerNow(head) {
        case nil:
            state.handedOnUndecided()
            context.fireChannelRead(wrapInboundOut(.head(head)))
            context.fireChannelRead(wrapInboundOut(.end(nil)))
        case let .now(answer)?:
            send(answer, context: context)
        case let .afterAudit(answer, wait, ifDropped)?:
            // Later parts wait in `state` meanwhile, so that answers keep their order.
            guard let audit = endpoint.audit else { return send(answer, context: context) }
            let kept: EventLoopFuture<Bool>
            switch wait {
            case let .room(entry):
                // The audit buffer is full: wait for room, as the general path does.
                kept = context.eventLoop.makeFutureWithTask { await audit.record(entry) }
            case let .written(position):
                // Group commit: released with the rest of its block, from the writer's task.
                let promise = context.eventLoop.makePromise(of: Bool.self)
                audit.whenWritten(position) { promise.succeed($0) }
                kept = promise.futureResult
            }
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            kept.whenComplete { result in
                let (handler, context) = loopBound.value
                guard (try? result.get()) == false, let ifDropped else { return handler.send(answer, context: context) }
                let (denial, denialEntry) = ifDropped()
                if let denialEntry { audit.recordOrCount(denialEntry) }
                handler.send(denial, context: context)
            }
        }
    }

    private func send(_ answer: ForwardAuthEndpoint.ImmediateAnswer, context: ChannelHandlerContext) {
        // Counted first: a client that has the answer finds it counted.
        endpoint.authorizer.metrics.fastPathAnswers.increment()
        context.write(wrapOutboundOut(.head(answer.head)), promise: nil)
        if !answer.body.isEmpty {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: answer.body)))), promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        state.answerSent(now: context.eventLoop.now)
        var replayed = false
        while let action = state.replayNext() {
            replayed = true
            perform(action, context: context)
        }
        // Parts passed on after an answer that waited for its audit record come outside any
        // read: Hummingbird's channel hands on what it was given only when a read completes,
        // so complete one, or they would wait for the client's next bytes (which, from a client
        // that sent all it had, never come).
        if replayed { context.fireChannelReadComplete() }
        if state.takeQuiesce() { context.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent()) }
        resumeReadIfHeldBack(context: context)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let ended: Bool
        if case .end = unwrapOutboundIn(data) { ended = true } else { ended = false }
        context.write(data, promise: promise)
        if ended {
            state.responseEnded(now: context.eventLoop.now)
            resumeReadIfHeldBack(context: context)
        }
    }

    // MARK: Reading only what can be answered

    func read(context: ChannelHandlerContext) {
        if state.readRequested() { context.read() }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        state.writabilityChanged(writable: context.channel.isWritable)
        resumeReadIfHeldBack(context: context)
        context.fireChannelWritabilityChanged()
    }

    private func resumeReadIfHeldBack(context: ChannelHandlerContext) {
        if state.resumeRead() { context.read() }
    }

    // MARK: Shutdown and idle connections

    /// The server is shutting down: pass the news on (Hummingbird then closes the idle
    /// connection) only once the request answered here, if any, has its answer.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent, !state.quiesceRequested() { return }
        context.fireUserInboundEventTriggered(event)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { scheduleFirstIdleCheck(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        scheduleFirstIdleCheck(context: context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        idleCheck?.cancel()
        idleCheck = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        idleCheck?.cancel()
        idleCheck = nil
        context.fireChannelInactive()
    }

    private func scheduleFirstIdleCheck(context: ChannelHandlerContext) {
        guard idleCheck == nil, let timeout = state.idleTimeout else { return }
        scheduleIdleCheck(at: context.eventLoop.now + timeout, context: context)
    }

    /// Closes the connection when the state says it has been idle for the whole timeout.
    private func scheduleIdleCheck(at due: NIODeadline, context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        idleCheck = context.eventLoop.scheduleTask(deadline: due) {
            let (handler, context) = loopBound.value
            handler.idleCheck = nil
            switch handler.state.idleCheck(now: context.eventLoop.now) {
            case .close?: context.close(promise: nil)
            case let .checkAgain(next)?: handler.scheduleIdleCheck(at: next, context: context)
            case nil: break
            }
        }
    }
}
