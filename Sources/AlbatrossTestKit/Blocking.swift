/// Runs blocking work (waiting for a child process, reading a socket until it closes) on a dedicated thread and
/// awaits it. Swift's cooperative pool has one thread per core (two here) and every test of every target shares
/// it: a test that blocks one of them for seconds stalls the async tests running beside it. Keep `#expect` out of
/// `body` (it runs outside the test's task); check what it returns instead.
public func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await onThreads(1) { _ in try body() }[0]
}

/// Evaluates `condition` every 20 ms for up to `seconds` until it holds, sleeping between tries without holding a
/// thread; returns whether it held.
public func eventually(seconds: Double, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now.advanced(by: .milliseconds(Int64(seconds * 1000)))
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return try await condition()
}
