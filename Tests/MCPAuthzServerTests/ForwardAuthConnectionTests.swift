import NIOCore
import NIOHTTP1
import Testing

@testable import MCPAuthzServer

/// The fast path's connection rules as values: which requests are decided here, the order of
/// answers, when reading stops and resumes, shutdown and idleness, with the time passed in.
@Suite struct ForwardAuthConnectionTests {
    static let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    static func plain() -> HTTPRequestHead {
        HTTPRequestHead(version: .http1_1, method: .GET, uri: "/auth", headers: ["Host": "sidecar", "X-Original-URI": "/mcp"])
    }

    static func other(_ uri: String = "/healthz") -> HTTPRequestHead {
        HTTPRequestHead(version: .http1_1, method: .GET, uri: uri, headers: ["Host": "sidecar"])
    }

    static func machine(maxPipelined: Int = 16, idle: TimeAmount? = .seconds(10)) -> ForwardAuthConnection {
        ForwardAuthConnection(maxPipelined: maxPipelined, idleTimeout: idle, now: start)
    }

    @Test func aPlainAuthRequestIsHeldUntilItsEndAndThenDecidedHere() {
        var state = Self.machine()
        #expect(state.read(.head(Self.plain()), now: Self.start) == ForwardAuthConnection.InboundAction.none)
        #expect(state.inFlight == 1)
        #expect(state.read(.end(nil), now: Self.start) == .decide(Self.plain()))
        #expect(state.answering)
        state.answerSent(now: Self.start)
        #expect(state.inFlight == 0)
    }

    @Test func aBodyHandsTheHeldHeadOnBeforeIt() {
        var state = Self.machine()
        _ = state.read(.head(Self.plain()), now: Self.start)
        let body = HTTPServerRequestPart.body(ByteBuffer(string: "{}"))
        #expect(state.read(body, now: Self.start) == .forwardHeld(Self.plain(), then: body))
        #expect(state.handedOn == 1)
        #expect(state.read(.end(nil), now: Self.start) == .forward(.end(nil)), "the end follows its head to Hummingbird")
    }

    @Test func whileHummingbirdOwesAnAnswerEvenAPlainRequestGoesToIt() {
        var state = Self.machine()
        #expect(state.read(.head(Self.other()), now: Self.start) == .forward(.head(Self.other())))
        #expect(state.read(.end(nil), now: Self.start) == .forward(.end(nil)))
        #expect(state.read(.head(Self.plain()), now: Self.start) == .forward(.head(Self.plain())), "its answer would overtake")
        #expect(state.read(.end(nil), now: Self.start) == .forward(.end(nil)))
        state.responseEnded(now: Self.start)
        state.responseEnded(now: Self.start)
        #expect(state.read(.head(Self.plain()), now: Self.start) == ForwardAuthConnection.InboundAction.none, "decided here again")
    }

    @Test func partsReadWhileAnAnswerWaitsForAuditRoomAreReplayedInOrder() {
        var state = Self.machine()
        _ = state.read(.head(Self.plain()), now: Self.start)
        #expect(state.read(.end(nil), now: Self.start) == .decide(Self.plain()))
        // The answer waits for the audit buffer: the next requests must not overtake it.
        let parts: [HTTPServerRequestPart] = [.head(Self.plain()), .end(nil), .head(Self.other()), .end(nil)]
        for part in parts { #expect(state.read(part, now: Self.start) == ForwardAuthConnection.InboundAction.none) }
        #expect(state.replayNext() == nil, "nothing replays while the answer waits")
        #expect(!state.mayRead)
        state.answerSent(now: Self.start)
        #expect(state.replayNext() == ForwardAuthConnection.InboundAction.none, "the next plain head is held")
        #expect(state.replayNext() == .decide(Self.plain()))
        #expect(state.replayNext() == nil, "that answer waits in turn")
        state.answerSent(now: Self.start)
        #expect(state.replayNext() == .forward(.head(Self.other())))
        #expect(state.replayNext() == .forward(.end(nil)))
        #expect(state.replayNext() == nil)
        #expect(state.handedOn == 1)
        #expect(state.mayRead, "one answer owed is well under the bound")
    }

    @Test func readingStopsWhileTheClientDoesNotTakeItsAnswers() {
        var state = Self.machine()
        let readRequested1 = state.readRequested()
        #expect(readRequested1)
        state.writabilityChanged(writable: false)
        let readRequested2 = state.readRequested()
        #expect(!readRequested2, "held back")
        let resumeRead3 = state.resumeRead()
        #expect(!resumeRead3)
        state.writabilityChanged(writable: true)
        let resumeRead4 = state.resumeRead()
        #expect(resumeRead4, "the held-back read goes on")
        let resumeRead5 = state.resumeRead()
        #expect(!resumeRead5, "once")
    }

    @Test func readingStopsAtMaxPipelinedRequestsAwaitingAnswers() {
        var state = Self.machine(maxPipelined: 2)
        _ = state.read(.head(Self.other()), now: Self.start)
        _ = state.read(.end(nil), now: Self.start)
        let readRequested6 = state.readRequested()
        #expect(readRequested6)
        _ = state.read(.head(Self.other("/readyz")), now: Self.start)
        _ = state.read(.end(nil), now: Self.start)
        #expect(state.inFlight == 2)
        let readRequested7 = state.readRequested()
        #expect(!readRequested7, "two await answers")
        state.responseEnded(now: Self.start)
        let resumeRead8 = state.resumeRead()
        #expect(resumeRead8)
    }

    @Test func shutdownNewsWaitsForTheRequestInProgressHere() {
        var state = Self.machine()
        let quiesceRequested9 = state.quiesceRequested()
        #expect(quiesceRequested9, "nothing in progress: pass it on")
        _ = state.read(.head(Self.plain()), now: Self.start)
        let quiesceRequested10 = state.quiesceRequested()
        #expect(!quiesceRequested10, "a head is held")
        let takeQuiesce11 = state.takeQuiesce()
        #expect(!takeQuiesce11)
        _ = state.read(.end(nil), now: Self.start)
        let takeQuiesce12 = state.takeQuiesce()
        #expect(!takeQuiesce12, "its answer is not sent")
        state.answerSent(now: Self.start)
        let takeQuiesce13 = state.takeQuiesce()
        #expect(takeQuiesce13)
        let takeQuiesce14 = state.takeQuiesce()
        #expect(!takeQuiesce14, "once")
    }

    @Test func aConnectionIdleForTheWholeTimeoutIsClosedAndABusyOneKept() {
        var state = Self.machine(idle: .seconds(10))
        #expect(state.idleCheck(now: Self.start + .seconds(4)) == .checkAgain(at: Self.start + .seconds(10)))
        #expect(state.idleCheck(now: Self.start + .seconds(10)) == .close)
        _ = state.read(.head(Self.other()), now: Self.start + .seconds(5))
        _ = state.read(.end(nil), now: Self.start + .seconds(5))
        #expect(state.idleCheck(now: Self.start + .seconds(20)) == .checkAgain(at: Self.start + .seconds(30)), "an answer is owed")
        state.responseEnded(now: Self.start + .seconds(21))
        #expect(state.idleCheck(now: Self.start + .seconds(25)) == .checkAgain(at: Self.start + .seconds(31)))
        #expect(state.idleCheck(now: Self.start + .seconds(31)) == .close)
        #expect(Self.machine(idle: nil).idleCheck(now: Self.start + .seconds(1000)) == nil, "no timeout, no timer")
    }

    @Test func onlyPlainBodilessKeepAliveAuthCallsMayBeAnsweredHere() {
        var http10 = Self.plain()
        http10.version = .http1_0
        var withBody = Self.plain()
        withBody.headers.add(name: "Content-Length", value: "2")
        var envoy = Self.plain()
        envoy.uri = "/auth/mcp"
        var close = Self.plain()
        close.headers.add(name: "Connection", value: "close")
        var twoHosts = Self.plain()
        twoHosts.headers.add(name: "Host", value: "other")
        #expect(ForwardAuthConnection.mayAnswer(Self.plain()))
        for head in [http10, withBody, envoy, close, twoHosts, Self.other()] { #expect(!ForwardAuthConnection.mayAnswer(head)) }
    }
}
