import NIOCore
import NIOHTTP1

/// One connection as the forward-auth fast path sees it: which requests it answers itself,
/// which it hands on to Hummingbird, when it may read more, and when the connection is idle.
///
/// A pure state machine (no channel, no clock of its own: each event brings the time), so the
/// rules are tested as values; `ForwardAuthFastPath` carries out what it says. The rules:
/// - A plain `/auth` request (`mayAnswer`) is held until its end and then decided here, but only
///   while Hummingbird owes no answer on this connection: answers keep the order of requests.
/// - While an answer decided here waits for its audit record (room in the buffer, or its write
///   under `--audit-durability written|synced`), later parts wait here in order and are
///   replayed once it is sent.
/// - Reading stops while the connection cannot take more output (the client does not read its
///   answers), while an answer waits, and while `maxPipelined` requests await answers; a read
///   asked for then is held back and passed on once that ends. So a client that pipelines
///   without reading costs at most one read's worth of requests and the socket's buffers.
/// - A connection with nothing in progress for `idleTimeout` is closed.
struct ForwardAuthConnection {
    /// What to do with a part just read.
    enum InboundAction: Equatable {
        /// Nothing now: a head held for its end, or a part kept while an answer waits.
        case none
        /// Pass the part on to Hummingbird.
        case forward(HTTPServerRequestPart)
        /// Pass the held head on to Hummingbird, then this part.
        case forwardHeld(HTTPRequestHead, then: HTTPServerRequestPart)
        /// Decide this request here.
        case decide(HTTPRequestHead)
    }

    /// What the idle timer should do.
    enum IdleAction: Equatable {
        case close
        case checkAgain(at: NIODeadline)
    }

    let maxPipelined: Int
    let idleTimeout: TimeAmount?
    /// A bodiless `/auth` head waiting for its end.
    private(set) var held: HTTPRequestHead?
    /// Requests handed on to Hummingbird whose response has not ended.
    private(set) var handedOn = 0
    /// An answer decided here waits for its audit record.
    private(set) var answering = false
    /// Parts read while an answer waits, in order.
    private var waiting: [HTTPServerRequestPart] = []
    /// A read was asked for while reading was paused.
    private(set) var readHeldBack = false
    private var writable = true
    /// Shutdown was announced while a request was in progress here.
    private var quiescePending = false
    private var lastActivity: NIODeadline

    init(maxPipelined: Int, idleTimeout: TimeAmount?, now: NIODeadline) {
        self.maxPipelined = max(1, maxPipelined)
        self.idleTimeout = idleTimeout
        self.lastActivity = now
    }

    /// A forward-auth call this path may answer: an HTTP/1.1 GET or POST of `/auth` itself
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

    /// Requests read and not yet answered.
    var inFlight: Int { handedOn + (answering ? 1 : 0) + (held == nil ? 0 : 1) }

    /// Whether more may be read now.
    var mayRead: Bool { writable && !answering && waiting.isEmpty && inFlight < maxPipelined }

    // MARK: Reading

    /// A part arrived from the HTTP decoder.
    mutating func read(_ part: HTTPServerRequestPart, now: NIODeadline) -> InboundAction {
        lastActivity = now
        if answering || !waiting.isEmpty {
            waiting.append(part)
            return .none
        }
        return process(part)
    }

    /// The next part kept while an answer waited, once it is sent; nil when there is none or
    /// another answer now waits.
    mutating func replayNext() -> InboundAction? {
        guard !answering, !waiting.isEmpty else { return nil }
        let part = waiting.removeFirst()
        return process(part)
    }

    private mutating func process(_ part: HTTPServerRequestPart) -> InboundAction {
        switch part {
        case let .head(head):
            if handedOn == 0, Self.mayAnswer(head) {
                held = head
                return .none
            }
            handedOn += 1
            return .forward(part)
        case .body:
            guard let head = held else { return .forward(part) }
            held = nil
            handedOn += 1
            return .forwardHeld(head, then: part)
        case .end:
            guard let head = held else { return .forward(part) }
            held = nil
            answering = true
            return .decide(head)
        }
    }

    /// The channel asks to read: true to read now, false when it is held back until reading
    /// may resume (`resumeRead`).
    mutating func readRequested() -> Bool {
        guard mayRead else {
            readHeldBack = true
            return false
        }
        return true
    }

    /// Whether a read held back should be passed on now.
    mutating func resumeRead() -> Bool {
        guard readHeldBack, mayRead else { return false }
        readHeldBack = false
        return true
    }

    mutating func writabilityChanged(writable: Bool) {
        self.writable = writable
    }

    // MARK: Answers

    /// The request being decided here could not be decided without waiting: it goes to
    /// Hummingbird (its head and end are passed on).
    mutating func handedOnUndecided() {
        answering = false
        handedOn += 1
    }

    /// The answer decided here was written.
    mutating func answerSent(now: NIODeadline) {
        answering = false
        lastActivity = now
    }

    /// Hummingbird ended a response.
    mutating func responseEnded(now: NIODeadline) {
        handedOn = max(0, handedOn - 1)
        lastActivity = now
    }

    // MARK: Shutdown and idleness

    /// The server is shutting down: true to pass the news on now (Hummingbird then closes the
    /// connection once idle), false to hold it until the request in progress here is answered.
    mutating func quiesceRequested() -> Bool {
        guard held != nil || answering || !waiting.isEmpty else { return true }
        quiescePending = true
        return false
    }

    /// Whether held-back shutdown news should be passed on now.
    mutating func takeQuiesce() -> Bool {
        guard quiescePending, held == nil, !answering, waiting.isEmpty else { return false }
        quiescePending = false
        return true
    }

    /// The idle timer fired.
    func idleCheck(now: NIODeadline) -> IdleAction? {
        guard let idleTimeout else { return nil }
        if inFlight > 0 || !waiting.isEmpty { return .checkAgain(at: now + idleTimeout) }
        let due = lastActivity + idleTimeout
        return now >= due ? .close : .checkAgain(at: due)
    }
}
