import NIOConcurrencyHelpers

/// Counts requests being answered, so that a graceful shutdown can wait for them.
///
/// Waiting is an event, not a poll: ``waitUntilIdle()`` suspends until the request that brings the count to zero
/// ends (or returns at once when nothing is in flight). Continuations are resumed outside the lock.
final class InFlightTracker: Sendable {
    private struct State {
        var count = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter = 0
    }

    private let state = NIOLockedValueBox(State())

    func begin() { state.withLockedValue { $0.count += 1 } }

    func end() {
        let idle = state.withLockedValue { state -> [CheckedContinuation<Void, Never>] in
            state.count -= 1
            guard state.count == 0, !state.waiters.isEmpty else { return [] }
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in idle { waiter.resume() }
    }

    var current: Int { state.withLockedValue { $0.count } }

    /// Returns once no request is in flight, or when the calling task is cancelled.
    func waitUntilIdle() async {
        let id = state.withLockedValue { state -> Int in
            defer { state.nextWaiter += 1 }
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLockedValue { state -> Bool in
                    if state.count == 0 || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLockedValue { $0.waiters.removeValue(forKey: id) }
            waiter?.resume()
        }
    }
}
