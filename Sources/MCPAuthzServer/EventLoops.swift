import Foundation
import NIOCore
import NIOPosix

/// The threads `serve` runs on: NIO's event loops, one per CPU this process may use, with Swift
/// concurrency running on them too.
package enum EventLoops {
    /// Call once, first thing in `serve`, before anything uses NIO's singleton event loops.
    package static func configure() {
        // NIO counts the machine's CPUs (or the cgroup's quota) but not the affinity mask set by
        // taskset or systemd's CPUAffinity=. With more loops than CPUs, the loops take turns in
        // the kernel's time slices and requests wait milliseconds (measured: p90 3.2 ms at 4
        // connections with two loops on one CPU). NIO_SINGLETON_GROUP_LOOP_COUNT still wins.
        if ProcessInfo.processInfo.environment["NIO_SINGLETON_GROUP_LOOP_COUNT"] == nil, let allowed = allowedCPUCount(),
            allowed < System.coreCount
        {
            NIOSingletons.groupLoopCountSuggestion = allowed
        }
        // Run async code on the event loops instead of Swift's own thread pool: a decision then
        // stays on the thread that read the request rather than hopping threads twice
        // (measured with wrk on one CPU: about 1.2-1.4x the decisions per second). Blocking work
        // (policy loads) runs on NIOThreadPool, never on a loop.
        _ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
    }

    /// The number of CPUs in this process's affinity mask (`Cpus_allowed` in /proc/self/status,
    /// hex words separated by commas), when it can be read.
    package static func allowedCPUCount(status: String? = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) -> Int? {
        guard let line = status?.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed:") }) else { return nil }
        var count = 0
        for digit in line.dropFirst("Cpus_allowed:".count) where digit != "," && digit != " " && digit != "\t" {
            guard let value = digit.hexDigitValue else { return nil }
            count += value.nonzeroBitCount
        }
        return count > 0 ? count : nil
    }
}
