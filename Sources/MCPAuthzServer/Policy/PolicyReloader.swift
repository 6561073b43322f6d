import Foundation
import Logging
import MCPAuthzPolicy
import MCPAuthzTokens
import NIOPosix
import ServiceLifecycle
import UnixSignals

/// Reloads the policy when its files change (polled) and on SIGHUP.
///
/// A new policy is loaded and validated completely, off the request threads, before it is
/// installed in one swap; an invalid one is logged with every `file:line:column` problem and
/// counted, and the policy in force stays. Reloads never overlap.
package actor PolicyReloader: Service {
    package enum Cause: String, Sendable {
        case fileChange = "file_change"
        case signal = "sighup"
        case request = "request"
    }

    package enum Outcome: Sendable {
        /// A new policy is in force.
        case installed(revision: String)
        /// The files hold the policy already in force.
        case unchanged(revision: String)
        case rejected(PolicyLoadError)
    }

    private let store: PolicyStore
    private let builder: RuntimeBuilder
    private let watchInterval: Duration?
    private let trapsSIGHUP: Bool
    private let logger: Logger
    private let metrics: SidecarMetrics
    private let audit: AuditLog?
    private let shadow: ShadowPolicy?
    private var reloading = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    package init(
        store: PolicyStore, builder: RuntimeBuilder, watchInterval: Duration?, trapsSIGHUP: Bool, logger: Logger, metrics: SidecarMetrics,
        audit: AuditLog?, shadow: ShadowPolicy? = nil
    ) {
        self.audit = audit
        self.shadow = shadow
        self.store = store
        self.builder = builder
        self.watchInterval = watchInterval
        self.trapsSIGHUP = trapsSIGHUP
        self.logger = logger
        self.metrics = metrics
    }

    package func run() async {
        // Ends on graceful shutdown: the task is cancelled, the sleep and signal loops return.
        try? await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                if self.trapsSIGHUP {
                    group.addTask {
                        for await _ in await UnixSignalsSequence(trapping: .sighup) {
                            _ = await self.reload(.signal)
                            await self.reloadShadow(.signal)
                        }
                    }
                }
                if let interval = self.watchInterval {
                    group.addTask { await self.watch(every: interval) }
                }
                // With neither trigger the service still lives until shutdown: a service that
                // returns early would stop the whole group.
                group.addTask { try? await gracefulShutdown() }
            }
        }
    }

    /// Loads the policy again now (after any reload in progress) and installs it if valid.
    @discardableResult
    package func reload(_ cause: Cause) async -> Outcome {
        while reloading { await withCheckedContinuation { waiting.append($0) } }
        reloading = true
        defer {
            reloading = false
            if !waiting.isEmpty { waiting.removeFirst().resume() }
        }
        let previous = store.runtime
        let builder = self.builder
        let built: Result<PolicyRuntime, PolicyLoadError>
        do {
            built = try await NIOThreadPool.singleton.runIfActive { () throws -> Result<PolicyRuntime, PolicyLoadError> in
                do throws(PolicyLoadError) {
                    return .success(try builder.build(previous: previous))
                } catch {
                    return .failure(error)
                }
            }
        } catch {
            built = .failure(
                PolicyLoadError([PolicyDiagnostic("policy load did not run: \(error)", at: SourceLocation(file: "-", line: 0, column: 0))]))
        }
        let now = Date().timeIntervalSince1970
        switch built {
        case let .failure(error):
            metrics.recordReload(success: false, at: now)
            audit?.event(
                .policyLoad(.failure(cause: cause.rawValue, path: builder.settings.policyPath, inForce: previous.revision, error: error))
            )
            logger.error(
                "policy reload rejected; the policy in force stays",
                metadata: [
                    "policy.cause": "\(cause.rawValue)", "policy.revision": "\(previous.revision)",
                    "policy.problems": "\(error.diagnostics.count)", "policy.error": "\(error.description)",
                ]
            )
            return .rejected(error)
        case let .success(runtime) where runtime.revision == previous.revision:
            logger.debug("policy files unchanged", metadata: ["policy.revision": "\(runtime.revision)"])
            // SIGHUP reads key files again even so: a rotated shared secret is no part of the
            // revision (its hash would let a guess be checked offline).
            if cause == .signal {
                for (id, cache) in previous.authenticator.caches where previous.keySources[id]?.readsFile == true {
                    await cache.refresh(.scheduled)
                }
            }
            return .unchanged(revision: runtime.revision)
        case let .success(runtime):
            store.install(runtime)
            metrics.recordReload(success: true, at: now)
            audit?.event(
                .policyLoad(.success(cause: cause.rawValue, path: builder.settings.policyPath, runtime: runtime, previous: previous.revision))
            )
            logger.info(
                "policy reloaded",
                metadata: [
                    "policy.cause": "\(cause.rawValue)", "policy.revision": "\(runtime.revision)",
                    "policy.previous_revision": "\(previous.revision)", "policy.warnings": "\(runtime.warnings.count)",
                ]
            )
            // A kept cache reading a local JWKS file reads it again: the reload may be for a
            // rotated key file.
            for (id, cache) in runtime.authenticator.caches where runtime.keySources[id]?.readsFile == true {
                if previous.authenticator.caches[id] === cache { await cache.refresh(.scheduled) }
            }
            return .installed(revision: runtime.revision)
        }
    }

    /// Loads the shadow policy set again, if there is one; installs it when valid and changed,
    /// keeps the one in force otherwise, and records either.
    package func reloadShadow(_ cause: Cause) async {
        guard let shadow else { return }
        let result = try? await NIOThreadPool.singleton.runIfActive { shadow.reload() }
        // nil: unchanged, or the thread pool is shutting down.
        switch result {
        case nil:
            return
        case let .success(loaded)?:
            audit?.event(.policyLoad(.shadow(cause: cause.rawValue, path: shadow.path, revision: loaded.revision)))
            logger.info("shadow policy reloaded", metadata: ["policy.cause": "\(cause.rawValue)", "policy.revision": "\(loaded.revision)"])
        case let .failure(error)?:
            var record = PolicyLoadRecord.failure(cause: cause.rawValue, path: shadow.path, inForce: shadow.loaded.revision, error: error)
            record.shadow = true
            audit?.event(.policyLoad(record))
            logger.error(
                "shadow policy reload rejected; the shadow policy in force stays",
                metadata: ["policy.cause": "\(cause.rawValue)", "policy.error": "\(error.description)"]
            )
        }
    }

    private func watch(every interval: Duration) async {
        let path = builder.settings.policyPath
        // stat(2) and readlink(2) can block (a hung network file system): off the event loops.
        let store = self.store
        let fingerprint = { () async -> PolicyFingerprint? in
            // The catalogs the policy in force reads are watched with its files.
            let catalogs = store.runtime.snapshot.policy.servers.compactMap { $0.catalog?.file }
            return try? await NIOThreadPool.singleton.runIfActive { PolicyFingerprint.of(path: path, also: catalogs) }
        }
        let shadow = self.shadow
        let shadowFingerprint = { () async -> PolicyFingerprint? in
            guard let shadow else { return nil }
            let catalogs = shadow.catalogFiles
            return try? await NIOThreadPool.singleton.runIfActive { PolicyFingerprint.of(path: shadow.path, also: catalogs) }
        }
        var seen = await fingerprint()
        var seenShadow = await shadowFingerprint()
        while true {
            do { try await Task.sleep(for: interval) } catch { return }
            guard let now = await fingerprint() else { return }
            if now != seen {
                seen = now
                await reload(.fileChange)
            }
            let nowShadow = await shadowFingerprint()
            if nowShadow != seenShadow {
                seenShadow = nowShadow
                await reloadShadow(.fileChange)
            }
        }
    }
}

extension PolicyLoadRecord {
    /// A policy that was loaded and put in force.
    static func success(cause: String, path: String, runtime: PolicyRuntime, previous: String?) -> PolicyLoadRecord {
        PolicyLoadRecord(
            cause: cause, path: path, revision: runtime.revision,
            outcome: .success(
                servers: runtime.snapshot.servers.count, issuers: runtime.snapshot.issuers.count, warnings: runtime.warnings.count,
                previousRevision: previous
            )
        )
    }

    /// A shadow policy set that was loaded and put beside the policy in force.
    static func shadow(cause: String, path: String, revision: String) -> PolicyLoadRecord {
        var record = PolicyLoadRecord(
            cause: cause, path: path, revision: revision, outcome: .success(servers: 0, issuers: 0, warnings: 0, previousRevision: nil)
        )
        record.shadow = true
        return record
    }

    /// A policy that was refused; `inForce` stays.
    static func failure(cause: String, path: String, inForce: String, error: PolicyLoadError) -> PolicyLoadRecord {
        PolicyLoadRecord(
            cause: cause, path: path, revision: inForce,
            outcome: .failure(problems: error.diagnostics.count, error: error.diagnostics.prefix(5).map(\.description).joined(separator: "\n"))
        )
    }
}
