/// A value computed once, on first use, by an async function; later callers wait for the same
/// computation. For fixtures shared by many tests (minted tokens).
public actor Once<Value: Sendable> {
    private let make: @Sendable () async throws -> Value
    private var running: Task<Value, any Error>?

    public init(_ make: @escaping @Sendable () async throws -> Value) {
        self.make = make
    }

    public func value() async throws -> Value {
        if let running { return try await running.value }
        let task = Task { try await make() }
        running = task
        return try await task.value
    }
}
