import Foundation
import NIOConcurrencyHelpers

/// Runs blocking work on `count` dedicated threads at once (the cooperative pool is too small on 2 cores to
/// make blocking clients truly concurrent) and returns the results in index order.
public func onThreads<T: Sendable>(_ count: Int, _ body: @escaping @Sendable (Int) throws -> T) async throws -> [T] {
    let results = NIOLockedValueBox<[Int: Result<T, any Error>]>([:])
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        let remaining = NIOLockedValueBox(count)
        for index in 0..<count {
            let thread = Thread {
                let result = Result { try body(index) }
                results.withLockedValue { $0[index] = result }
                let done = remaining.withLockedValue { value -> Bool in
                    value -= 1
                    return value == 0
                }
                if done { continuation.resume() }
            }
            thread.start()
        }
    }
    let collected = results.withLockedValue { $0 }
    return try (0..<count).map { try collected[$0]!.get() }
}
