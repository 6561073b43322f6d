import NIOCore
import NIOHTTP1

/// Answers `/auth` on the event loop, from NIO's parsed HTTP/1 head, when the decision needs
/// no waiting; hands every other request on to Hummingbird unchanged.
///
/// Forward auth is the hot path. Through Hummingbird a request is converted to Swift HTTP
/// types, crosses into Swift concurrency through `NIOAsyncChannel`, and its answer comes back
/// the same way; that machinery cost more than the decision itself (bench/RESULTS.md). A plain
/// `/auth` request (`mayAnswer`) is held until its end; if `SidecarResponder.forwardAuthNow`
/// decides it (a cached or locally verifiable token, the policy in force), the answer is
/// written here, after its audit record is queued. Otherwise, and for anything else, the parts
/// go on to Hummingbird, which decides the same way with the same code. Pipelined requests
/// arrive here as they are read (NIO's pipelining assistance is off), so while any request
/// handed on awaits its response, every later one is handed on too: answers keep the order of
/// requests. Idle keep-alive connections are closed here, since Hummingbird's own idle timer
/// never sees the requests answered here.
final class ForwardAuthFastPath: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let responder: SidecarResponder
    private let idleTimeout: TimeAmount?
    /// A bodiless `/auth` head waiting for its end.
    private var held: HTTPRequestHead?
    /// Requests handed on to Hummingbird whose response has not ended.
    private var handedOn = 0
    /// A request is being read or answered (here or by Hummingbird).
    private var busy = false
    private var activeSinceCheck = false
    /// An answer decided here is waiting for room in the audit buffer.
    private var answering = false
    /// Shutdown was announced while a request was being answered here.
    private var quiescePending = false
    private var idleCheck: Scheduled<Void>?

    init(responder: SidecarResponder, idleTimeout: TimeAmount?) {
        self.responder = responder
        self.idleTimeout = idleTimeout
    }

    /// A forward-auth call this handler may answer: an HTTP/1.1 GET or POST of `/auth` itself
    /// (not Envoy's `/auth/<path>`), with no body, one Host at most, and the connection kept
    /// open. Anything else goes the general way, so unusual requests meet one set of rules.
    static func mayAnswer(_ head: HTTPRequestHead) -> Bool {
        guard head.version == .http1_1, head.method == .GET || head.method == .POST, head.uri == "/auth", head.isKeepAlive else {
            return false
        }
        let fields = head.headers
        guard !fields.contains(name: "Transfer-Encoding"), fields["Host"].count <= 1 else { return false }
        let lengths = fields["Content-Length"]
        return lengths.isEmpty || lengths == ["0"]
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        busy = true
        activeSinceCheck = true
        switch unwrapInboundIn(data) {
        case let .head(head):
            if handedOn == 0, Self.mayAnswer(head) {
                held = head
                return
            }
            handedOn += 1
            context.fireChannelRead(data)
        case .body:
            handOnHeld(context: context)
            context.fireChannelRead(data)
        case .end:
            guard let head = held else {
                context.fireChannelRead(data)
                return
            }
            held = nil
            answer(head, context: context)
        }
    }

    /// Decides a held request here, or hands it on when it cannot be decided without waiting.
    private func answer(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        guard let answer = responder.forwardAuthNow(head) else {
            handOn(head, context: context)
            context.fireChannelRead(wrapInboundOut(.end(nil)))
            return
        }
        answering = true
        if let entry = answer.auditEntry, let audit = responder.authorizer.audit, !audit.recordNow(entry) {
            // The audit buffer is full: wait for room, as the asynchronous path does.
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            context.eventLoop.makeFutureWithTask { await audit.record(entry) }.whenComplete { _ in
                let (handler, context) = loopBound.value
                handler.send(answer, context: context)
            }
            return
        }
        send(answer, context: context)
    }

    private func handOnHeld(context: ChannelHandlerContext) {
        guard let head = held else { return }
        held = nil
        handOn(head, context: context)
    }

    /// Passes a head to Hummingbird, which now owes a response.
    private func handOn(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        handedOn += 1
        context.fireChannelRead(wrapInboundOut(.head(head)))
    }

    /// The server is shutting down: pass the news on (Hummingbird then closes the idle
    /// connection) only once the request answered here, if any, has its answer.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent, held != nil || answering {
            quiescePending = true
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func send(_ answer: SidecarResponder.ImmediateAnswer, context: ChannelHandlerContext) {
        context.write(wrapOutboundOut(.head(answer.head)), promise: nil)
        if !answer.body.isEmpty {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: answer.body)))), promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        busy = false
        answering = false
        if quiescePending {
            quiescePending = false
            context.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            handedOn = max(0, handedOn - 1)
            busy = false
            activeSinceCheck = true
        }
        context.write(data, promise: promise)
    }

    // MARK: Idle keep-alive connections

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { scheduleIdleCheck(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        scheduleIdleCheck(context: context)
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

    /// Closes the connection when a whole timeout passed with no request and none in progress.
    private func scheduleIdleCheck(context: ChannelHandlerContext) {
        guard let idleTimeout, idleCheck == nil else { return }
        activeSinceCheck = false
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        idleCheck = context.eventLoop.scheduleTask(in: idleTimeout) {
            let (handler, context) = loopBound.value
            handler.idleCheck = nil
            if !handler.busy, !handler.activeSinceCheck, handler.handedOn == 0 {
                context.close(promise: nil)
            } else {
                handler.scheduleIdleCheck(context: context)
            }
        }
    }
}
