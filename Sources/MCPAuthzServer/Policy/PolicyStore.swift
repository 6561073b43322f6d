import MCPAuthzTokens
import Synchronization

/// The policy in force. Requests read it without waiting; a reload replaces it whole.
package final class PolicyStore: Sendable {
    private let current: Mutex<PolicyRuntime>
    private let cacheAnnouncer: AsyncStream<[JWKSCache]>.Continuation
    /// Every installed policy's key caches, newest only: what the JWKS refresher keeps running.
    package let cacheSets: AsyncStream<[JWKSCache]>

    package init(_ initial: PolicyRuntime) {
        current = Mutex(initial)
        (cacheSets, cacheAnnouncer) = AsyncStream.makeStream(of: [JWKSCache].self, bufferingPolicy: .bufferingNewest(1))
        cacheAnnouncer.yield(Array(initial.authenticator.caches.values))
    }

    package var runtime: PolicyRuntime { current.withLock { $0 } }

    /// Puts a new policy in force for every request that starts after this returns.
    package func install(_ runtime: PolicyRuntime) {
        current.withLock { $0 = runtime }
        cacheAnnouncer.yield(Array(runtime.authenticator.caches.values))
    }

    /// Whether every issuer of the policy in force has keys or has been found unavailable.
    package var issuersSettled: Bool {
        runtime.authenticator.caches.values.allSatisfy { $0.availability != .pending }
    }
}
