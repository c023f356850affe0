import NIOConcurrencyHelpers

/// Counts requests being answered, so that a graceful shutdown can wait for them.
final class InFlightTracker: Sendable {
    private let count = NIOLockedValueBox(0)

    func begin() { count.withLockedValue { $0 += 1 } }
    func end() { count.withLockedValue { $0 -= 1 } }
    var current: Int { count.withLockedValue { $0 } }
}
