public import InvocationModel
import LambdaModel
import NIOConcurrencyHelpers
public import NIOCore

/// The execution environments of one function version: warm reuse, cold starts up to the concurrency limit,
/// throttling beyond it, reaping of idle environments, and retirement that drains instead of killing.
///
/// The pool's bookkeeping sits behind one lock and is touched briefly per invoke; each environment's own state
/// lives on its event loop. The most recently used idle environment is reused first (LIFO), so surplus
/// environments stay idle long enough to be reaped.
public final class EnvironmentPool: Sendable {
    private struct Entry {
        var handle: EnvironmentHandle
        var idleSince: NIODeadline?
        /// Its runtime is gone and its slot given back; the entry stays until its resources are closed.
        var released = false
    }

    private struct State {
        var environments: [Int: Entry] = [:]
        /// Ids of idle environments, most recently used last.
        var idle: [Int] = []
        /// Environments counted against the limit (started, runtime not gone yet).
        var count = 0
        /// Environments not yet terminated (shutdown and retirement wait for 0).
        var alive = 0
        var nextID = 0
        var closed = false
        var drained: [EventLoopPromise<Void>] = []
        var reaper: RepeatedTask?
    }

    public let spec: EnvironmentSpec
    private let group: any EventLoopGroup
    private let state = NIOLockedValueBox(State())
    private let idleTimeout: TimeAmount

    /// Where an invoke goes when it reaches this pool after the pool was retired (nothing of it ran): the
    /// invoker places it on the version's current pool. nil: it fails with ``PoolClosed``.
    public typealias Successor = @Sendable (InvocationRequest, any EventLoop, Int) -> EventLoopFuture<InvocationOutcome>
    private let successor: Successor?

    public init(
        spec: EnvironmentSpec, group: any EventLoopGroup, idleTimeout: TimeAmount, successor: Successor? = nil
    ) {
        self.spec = spec
        self.group = group
        self.idleTimeout = idleTimeout
        self.successor = successor
    }

    /// How many environments hold a concurrency slot, and how many of them are idle.
    public var counts: (total: Int, idle: Int) {
        state.withLockedValue { ($0.count, $0.idle.count) }
    }

    /// Runs one invoke: on a warm environment when one is idle, else on a new one (cold start), else throttled.
    /// The future completes on `eventLoop`.
    public func invoke(_ request: InvocationRequest, on eventLoop: any EventLoop) -> EventLoopFuture<InvocationOutcome>
    {
        invoke(request, on: eventLoop, attempt: 0)
    }

    private enum Choice {
        case warm(EnvironmentHandle)
        case cold(id: Int)
        case throttled
        case closed
    }

    /// ``invoke(_:on:)`` for an invoke placed again (`attempt` bounds how often).
    public func invoke(
        _ request: InvocationRequest, on eventLoop: any EventLoop, attempt: Int
    )
        -> EventLoopFuture<InvocationOutcome>
    {
        let limit = spec.function.maximumConcurrency
        let choice = state.withLockedValue { state -> Choice in
            if state.closed { return .closed }
            // Prefer the most recently used idle environment on the caller's own event loop: no thread hop.
            var index = state.idle.count - 1
            while index >= 0 {
                if let entry = state.environments[state.idle[index]], entry.handle.loop === eventLoop { break }
                index -= 1
            }
            if index < 0 && !state.idle.isEmpty { index = state.idle.count - 1 }
            if index >= 0 {
                let id = state.idle.remove(at: index)
                if var entry = state.environments[id] {
                    entry.idleSince = nil
                    state.environments[id] = entry
                    return .warm(entry.handle)
                }
            }
            if state.count < limit {
                state.count += 1
                state.alive += 1
                state.nextID += 1
                return .cold(id: state.nextID)
            }
            return .throttled
        }
        if case .closed = choice { return placeElsewhere(request, on: eventLoop, attempt: attempt) }
        let promise = eventLoop.makePromise(of: InvocationOutcome.self)
        let pending = PendingInvocation(request: request, promise: promise)
        switch choice {
        case .closed:
            preconditionFailure("handled above")
        case .throttled:
            emitPlaced(request, .throttled(reason: "ConcurrentInvocationLimitExceeded"))
            promise.fail(InvocationError(.throttled, "Rate Exceeded."))
            return promise.futureResult
        case .warm(let handle):
            handle.invoke(pending)
        case .cold(let id):
            emitPlaced(request, .coldStart)
            startEnvironment(id: id, on: eventLoop, pending: pending)
        }
        return promise.futureResult.flatMapError { error in
            if error is EnvironmentNotReady, attempt < 3 {
                return self.invoke(request, on: eventLoop, attempt: attempt + 1)
            }
            return eventLoop.makeFailedFuture(error)
        }
    }

    private func placeElsewhere(
        _ request: InvocationRequest, on eventLoop: any EventLoop, attempt: Int
    ) -> EventLoopFuture<InvocationOutcome> {
        guard let successor, attempt < 3 else { return eventLoop.makeFailedFuture(PoolClosed()) }
        return successor(request, eventLoop, attempt + 1)
    }

    private func emitPlaced(_ request: InvocationRequest, _ placement: InvocationEvent.Placed.Placement) {
        guard spec.events.wants(.placement(placement)) else { return }
        spec.events.emit(
            InvocationEvent(
                requestID: request.requestID,
                detail: .placed(
                    .init(function: spec.function.name, version: spec.version, placement: placement, environment: nil)))
        )
    }

    /// Starts an environment on the caller's event loop, so that its invokes from there need no thread hop.
    private func startEnvironment(id: Int, on loop: any EventLoop, pending: PendingInvocation) {
        let link = EnvironmentPoolLink(
            ready: { [weak self] id in self?.environmentReady(id) },
            released: { [weak self] id in self?.environmentReleased(id) },
            terminated: { [weak self] id in self?.environmentTerminated(id) })
        let spec = self.spec
        startReaperIfNeeded()
        loop.execute {
            let environment = ExecutionEnvironment(id: id, loop: loop, spec: spec, link: link, pending: pending)
            let handle = EnvironmentHandle(environment)
            let closed = self.state.withLockedValue { state -> Bool in
                state.environments[id] = Entry(handle: handle, idleSince: nil)
                return state.closed
            }
            environment.start()
            // Retired or shut down while it was being created: it runs the invoke it was made for, then stops.
            if closed { environment.retire() }
        }
    }

    /// The idle sweep runs only for pools that have environments.
    private func startReaperIfNeeded() {
        let interval = TimeAmount.nanoseconds(
            max(
                TimeAmount.milliseconds(200).nanoseconds,
                min(idleTimeout.nanoseconds / 4, TimeAmount.seconds(15).nanoseconds)))
        state.withLockedValue { state in
            guard state.reaper == nil, !state.closed else { return }
            state.reaper = group.next().scheduleRepeatedTask(initialDelay: interval, delay: interval) {
                [weak self] _ in
                self?.reapIdle()
            }
        }
    }

    private func environmentReady(_ id: Int) {
        let retire = state.withLockedValue { state -> EnvironmentHandle? in
            guard var entry = state.environments[id] else { return nil }
            if state.closed { return entry.handle }
            entry.idleSince = .now()
            state.environments[id] = entry
            state.idle.append(id)
            return nil
        }
        retire?.retire()
    }

    /// The runtime process is gone: its slot is free for the next cold start.
    private func environmentReleased(_ id: Int) {
        state.withLockedValue { state in
            guard var entry = state.environments[id], !entry.released else { return }
            entry.released = true
            state.environments[id] = entry
            state.count -= 1
            if let index = state.idle.firstIndex(of: id) { state.idle.remove(at: index) }
        }
    }

    private func environmentTerminated(_ id: Int) {
        let drained = state.withLockedValue { state -> [EventLoopPromise<Void>] in
            guard let entry = state.environments.removeValue(forKey: id) else { return [] }
            if !entry.released { state.count -= 1 }
            state.alive -= 1
            if let index = state.idle.firstIndex(of: id) { state.idle.remove(at: index) }
            if state.closed && state.alive == 0 {
                defer { state.drained = [] }
                return state.drained
            }
            return []
        }
        for promise in drained { promise.succeed() }
    }

    /// Shuts down environments idle for longer than the idle timeout.
    public func reapIdle() {
        reapIdle(olderThan: idleTimeout)
    }

    /// Shuts down every idle environment now, as the idle sweep does once they time out, so that the next invoke
    /// starts a fresh one: `albatross bench --cold`, which waits for ``counts`` to reach 0 before it invokes.
    /// Busy environments are not touched (nothing is killed mid-invoke).
    public func stopIdleEnvironments() {
        reapIdle(olderThan: .zero)
    }

    private func reapIdle(olderThan limit: TimeAmount) {
        let now = NIODeadline.now()
        let expired = state.withLockedValue { state -> [EnvironmentHandle] in
            var expired: [EnvironmentHandle] = []
            state.idle.removeAll { id in
                guard let entry = state.environments[id], let since = entry.idleSince, now - since >= limit
                else { return false }
                expired.append(entry.handle)
                return true
            }
            return expired
        }
        for handle in expired { handle.stop(reason: .idle) }
    }

    /// Refuses new invokes; idle environments stop at once, busy ones finish their invoke and then stop
    /// (drain, never kill). Completes when every environment has ended.
    public func retire(on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        close(on: eventLoop) { $0.retire() }
    }

    /// Refuses new invokes and stops every environment now, busy ones included (SIGTERM, then SIGKILL after the
    /// termination grace). Completes when all of them are reaped.
    public func shutdown(on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        close(on: eventLoop) { $0.stop(reason: .shutdown) }
    }

    private func close(on eventLoop: any EventLoop, _ action: (EnvironmentHandle) -> Void) -> EventLoopFuture<Void> {
        let promise = eventLoop.makePromise(of: Void.self)
        let handles = state.withLockedValue { state -> [EnvironmentHandle]? in
            state.closed = true
            state.reaper?.cancel()
            state.reaper = nil
            state.idle.removeAll()
            if state.alive == 0 { return nil }
            state.drained.append(promise)
            return state.environments.values.map(\.handle)
        }
        guard let handles else {
            promise.succeed()
            return promise.futureResult
        }
        for handle in handles { action(handle) }
        return promise.futureResult
    }
}

/// The pool was retired or shut down before the invoke could be placed: nothing of the function ran, so the
/// caller may place it again (the invoker does, on the version's current pool, unless it is shutting down).
public struct PoolClosed: Error, Sendable {
    public init() {}
}

/// A Sendable reference to an environment that runs every call on the environment's loop.
struct EnvironmentHandle: Sendable {
    private let bound: NIOLoopBound<ExecutionEnvironment>
    let loop: any EventLoop

    init(_ environment: ExecutionEnvironment) {
        self.bound = NIOLoopBound(environment, eventLoop: environment.loop)
        self.loop = environment.loop
    }

    func invoke(_ pending: PendingInvocation) {
        if loop.inEventLoop {
            bound.value.invoke(pending)
        } else {
            loop.execute { bound.value.invoke(pending) }
        }
    }

    func stop(reason: InvocationEvent.EnvironmentStopped.Reason) {
        loop.execute { bound.value.stop(reason: reason) }
    }

    func retire() {
        loop.execute { bound.value.retire() }
    }
}
