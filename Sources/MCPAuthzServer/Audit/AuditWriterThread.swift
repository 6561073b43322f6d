import NIOCore
import NIOPosix
import Synchronization

/// The audit log's own thread for its blocking calls (`write`, `fsync`, `open`), and the watch
/// on how long the call in progress has taken.
///
/// `serve` runs Swift concurrency on NIO's event loops, so a blocking call made from the audit
/// task would hold a loop and every connection on it: a stdout pipe whose reader stopped
/// reading hung requests that way. Here a destination that stops taking bytes holds only this
/// thread; the log sees the stall (`busyFor`) and treats it as a failed write.
final class AuditWriterThread: Sendable {
    private let pool = NIOThreadPool(numberOfThreads: 1)
    /// Uptime in nanoseconds when the call in progress began; 0 while idle.
    private let busySince = Atomic<UInt64>(0)

    init() {
        pool.start()
    }

    /// Runs `body` on the thread and waits for it; nil when `deadline` came first (the call
    /// goes on there, no longer awaited) or the thread was shut down.
    func perform<T: Sendable>(until deadline: NIODeadline? = nil, _ body: @escaping @Sendable () -> T) async -> T? {
        let loop = NIOSingletons.posixEventLoopGroup.next()
        let promise = loop.makePromise(of: T?.self)
        pool.submit { [self] state in
            guard case .active = state else {
                promise.succeed(nil)
                return
            }
            busySince.store(max(1, NIODeadline.now().uptimeNanoseconds), ordering: .relaxed)
            let value = body()
            busySince.store(0, ordering: .relaxed)
            promise.succeed(value)
        }
        // A promise completes once: whichever of the call and the deadline comes second is ignored.
        let timer = deadline.map { deadline in loop.scheduleTask(deadline: deadline) { promise.succeed(nil) } }
        let value = try? await promise.futureResult.get()
        timer?.cancel()
        return value ?? nil
    }

    /// How long the call in progress has been running; nil while the thread is idle.
    func busyFor(now: NIODeadline = .now()) -> TimeAmount? {
        let since = busySince.load(ordering: .relaxed)
        guard since != 0, now.uptimeNanoseconds >= since else { return nil }
        return .nanoseconds(Int64(now.uptimeNanoseconds - since))
    }

    /// Lets the thread end once its call returns, without waiting for it: a call stuck in a
    /// stalled destination must not hold the process at exit.
    func shutdown() {
        pool.shutdownGracefully { _ in }
    }
}
