public import LambdaModel
import NIOConcurrencyHelpers

/// The account's concurrent executions (runtime-api.md §2.7): one limiter shared by every pool, so that the
/// account limit, reserved concurrency (a function's cap, carved out of the account) and the unreserved pool (what
/// is left, shared by the functions without a reservation) hold across all functions and versions.
///
/// A slot is one execution: an on-demand invoke holds one from placement until its result, and a provisioned
/// environment holds one for its whole life, busy or idle (AWS counts allocated provisioned concurrency against
/// the function's reservation or the unreserved pool). Idle on-demand environments hold none, as on AWS, where
/// concurrency counts requests in flight. The bookkeeping is one lock held for a few instructions per invoke.
public final class ConcurrencyLimiter: Sendable {
    /// Why an execution was refused: the `Reason` of AWS's `TooManyRequestsException`.
    public enum Refusal: String, Sendable, Hashable {
        /// The function's reserved concurrency is used up (or is 0).
        case reserved = "ReservedFunctionConcurrentInvocationLimitExceeded"
        /// The account's unreserved pool is used up.
        case account = "ConcurrentInvocationLimitExceeded"
    }

    private struct State {
        var account: AccountConcurrency
        /// Reserved concurrency by function.
        var reserved: [String: Int] = [:]
        var totalReserved = 0
        /// Executions in use by function (all versions, provisioned environments included).
        var inUse: [String: Int] = [:]
        /// Executions in use by functions without a reservation.
        var unreservedInUse = 0
    }

    private let state: NIOLockedValueBox<State>

    public init(account: AccountConcurrency = AccountConcurrency()) {
        self.state = NIOLockedValueBox(State(account: account))
    }

    /// The account's limits.
    public var account: AccountConcurrency { state.withLockedValue { $0.account } }

    /// Sets every function's reservation at once (the catalog's); functions not named have none. Executions in
    /// use move between the pools with their function, so a change applies to the next acquisition.
    public func setReservations(_ reservations: [String: Int]) {
        state.withLockedValue { state in
            state.reserved = reservations
            state.totalReserved = reservations.values.reduce(0, +)
            state.unreservedInUse = state.inUse.reduce(0) { sum, entry in
                reservations[entry.key] == nil ? sum + entry.value : sum
            }
        }
    }

    /// Sets one function's reservation (nil removes it), refusing one that leaves the account less than its
    /// minimum unreserved; returns AWS's message then.
    public func setReservation(_ reserved: Int?, for function: String) -> String? {
        state.withLockedValue { state -> String? in
            let others = state.totalReserved - (state.reserved[function] ?? 0)
            if let reserved, let problem = state.account.reservationProblem(totalReserved: others + reserved) {
                return problem
            }
            var reservations = state.reserved
            reservations[function] = reserved
            state.reserved = reservations
            state.totalReserved = others + (reserved ?? 0)
            state.unreservedInUse = state.inUse.reduce(0) { sum, entry in
                reservations[entry.key] == nil ? sum + entry.value : sum
            }
            return nil
        }
    }

    /// The function's reservation, if any.
    public func reservation(for function: String) -> Int? {
        state.withLockedValue { $0.reserved[function] }
    }

    /// Takes one execution for `function`, or says which limit refuses it.
    public func acquire(_ function: String) -> Refusal? {
        state.withLockedValue { state -> Refusal? in
            let used = state.inUse[function] ?? 0
            if let reserved = state.reserved[function] {
                guard used < reserved else { return .reserved }
            } else {
                let pool = state.account.limit - state.totalReserved
                guard state.unreservedInUse < pool else { return .account }
                state.unreservedInUse += 1
            }
            state.inUse[function] = used + 1
            return nil
        }
    }

    /// Gives back one execution taken with ``acquire(_:)``.
    public func release(_ function: String) {
        state.withLockedValue { state in
            guard let used = state.inUse[function], used > 0 else { return }
            state.inUse[function] = used == 1 ? nil : used - 1
            if state.reserved[function] == nil { state.unreservedInUse = max(0, state.unreservedInUse - 1) }
        }
    }

    /// What is in use now: by function, and of the unreserved pool (for status and tests).
    public var usage: (byFunction: [String: Int], unreserved: Int, unreservedPool: Int) {
        state.withLockedValue { state in
            (state.inUse, state.unreservedInUse, state.account.limit - state.totalReserved)
        }
    }
}
