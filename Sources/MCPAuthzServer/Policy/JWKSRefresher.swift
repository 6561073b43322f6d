import MCPAuthzTokens
import ServiceLifecycle

/// Keeps the scheduled refresh of every issuer's keys running for the policy in force:
/// starts the caches a reload adds and stops those it drops.
///
/// The first refresh waits until the server listens (`listening` yields): an issuer served by
/// this very process (the demo's) is then reachable, and a socket that cannot be bound fetches
/// nothing before the process exits.
package struct JWKSRefresher: Service {
    let cacheSets: AsyncStream<[JWKSCache]>
    let listening: AsyncStream<Void>

    package init(store: PolicyStore, listening: AsyncStream<Void>) {
        cacheSets = store.cacheSets
        self.listening = listening
    }

    package func run() async {
        // Ends on graceful shutdown or cancellation. Not `cancelOnGracefulShutdown()` on the
        // stream: its merge can deadlock on cancellation when tasks run on NIO's event loops
        // (swift-async-algorithms #430), which hung a failed start-up.
        try? await cancelWhenGracefulShutdown {
            for await _ in self.listening { break }
            guard !Task.isCancelled else { return }
            await self.refreshWhileInForce()
        }
    }

    private func refreshWhileInForce() async {
        await withDiscardingTaskGroup { group in
            var running: [ObjectIdentifier: AsyncStream<Void>.Continuation] = [:]
            for await caches in cacheSets {
                let current = Set(caches.map(ObjectIdentifier.init))
                for (id, retire) in running where !current.contains(id) {
                    retire.finish()
                    running[id] = nil
                }
                for cache in caches where running[ObjectIdentifier(cache)] == nil {
                    let (retirement, retire) = AsyncStream.makeStream(of: Void.self)
                    running[ObjectIdentifier(cache)] = retire
                    group.addTask {
                        // The refresh loop runs until the cache is retired or the service stops.
                        await withTaskGroup(of: Void.self) { loop in
                            loop.addTask { await cache.run() }
                            loop.addTask { for await _ in retirement {} }
                            await loop.next()
                            loop.cancelAll()
                        }
                    }
                }
            }
            for retire in running.values { retire.finish() }
        }
    }
}
