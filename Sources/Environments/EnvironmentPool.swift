public import InvocationModel
import LambdaModel
import NIOConcurrencyHelpers
public import NIOCore

/// The execution environments of one function version: provisioned environments kept ready ahead of traffic,
/// warm reuse, cold starts up to the concurrency limits (the account's, through ``ConcurrencyLimiter``, and the
/// version's `maximumConcurrency`), throttling beyond them, reaping of idle and aged environments, and retirement
/// that drains instead of killing.
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
        /// A provisioned-concurrency environment: started ahead of traffic, never reaped for idleness, replaced
        /// when it ends.
        var provisioned = false
        /// Its INIT ended (it has been ready at least once).
        var initialized = false
        var createdAt: NIODeadline
        /// Asked to stop after its invoke (retired, lifetime, deprovisioned): it is never placed on again.
        var leaving = false
    }

    private struct State {
        var environments: [Int: Entry] = [:]
        /// Ids of idle on-demand environments, most recently used last.
        var idle: [Int] = []
        /// Ids of idle provisioned environments, most recently used last.
        var idleProvisioned: [Int] = []
        /// On-demand environments counted against `maximumConcurrency` (started, runtime not gone yet).
        var count = 0
        /// Provisioned environments started and not released yet.
        var provisionedCount = 0
        /// How many provisioned environments the pool keeps (its version's or aliases' provisioned concurrency).
        var provisionedTarget = 0
        /// Provisioned environments whose INIT failed in a row; replacements wait longer each time.
        var provisionFailures = 0
        var provisionNotBefore: NIODeadline = .uptimeNanoseconds(0)
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
    /// The account's executions (nil: only `maximumConcurrency` limits this pool).
    private let limiter: ConcurrencyLimiter?
    /// Environments older than this are stopped (idle) or drained (busy); nil: no limit.
    private let maximumLifetime: TimeAmount?

    /// Where an invoke goes when it reaches this pool after the pool was retired (nothing of it ran): the
    /// invoker places it on the version's current pool. nil: it fails with ``PoolClosed``.
    public typealias Successor = @Sendable (InvocationRequest, any EventLoop, Int) -> EventLoopFuture<InvocationOutcome>
    private let successor: Successor?

    public init(
        spec: EnvironmentSpec, group: any EventLoopGroup, idleTimeout: TimeAmount, limiter: ConcurrencyLimiter? = nil,
        maximumLifetime: TimeAmount? = nil, successor: Successor? = nil
    ) {
        self.spec = spec
        self.group = group
        self.idleTimeout = idleTimeout
        self.limiter = limiter
        self.maximumLifetime = maximumLifetime
        self.successor = successor
    }

    /// How many environments hold a concurrency slot, and how many of them are idle (provisioned ones included).
    public var counts: (total: Int, idle: Int) {
        state.withLockedValue {
            ($0.count + $0.provisionedCount, $0.idle.count + $0.idleProvisioned.count)
        }
    }

    /// Provisioned concurrency: how many environments were asked for, how many exist, and how many of those
    /// finished INIT (AWS's Requested/Allocated/Available).
    public var provisionedCounts: (requested: Int, allocated: Int, available: Int) {
        state.withLockedValue { state in
            let available = state.environments.values.filter { $0.provisioned && !$0.released && $0.initialized }
            return (state.provisionedTarget, state.provisionedCount, available.count)
        }
    }

    /// Runs one invoke: on a warm environment when one is idle, else on a new one (cold start), else throttled.
    /// The future completes on `eventLoop`.
    public func invoke(_ request: InvocationRequest, on eventLoop: any EventLoop) -> EventLoopFuture<InvocationOutcome>
    {
        invoke(request, on: eventLoop, attempt: 0)
    }

    private enum Choice {
        case warm(EnvironmentHandle, InvocationEvent.Capacity, slot: Bool)
        case cold(id: Int, InvocationEvent.Capacity, slot: Bool)
        case throttled(reason: String)
        case closed
    }

    /// ``invoke(_:on:)`` for an invoke placed again (`attempt` bounds how often).
    ///
    /// Placement rules, in order: an idle provisioned environment (no execution taken: provisioned ones hold
    /// theirs); then an execution from the account (``ConcurrencyLimiter``: the function's reservation or the
    /// unreserved pool, else throttled with that limit's reason); an idle on-demand environment; a cold start while
    /// the version has fewer than `maximumConcurrency` on-demand environments; else throttled
    /// (`ReservedFunctionConcurrentInvocationLimitExceeded`: `maximumConcurrency` caps the function as a
    /// reservation would). On-demand invokes of a version with provisioned concurrency are its spill-over.
    public func invoke(
        _ request: InvocationRequest, on eventLoop: any EventLoop, attempt: Int
    )
        -> EventLoopFuture<InvocationOutcome>
    {
        let promise = eventLoop.makePromise(of: InvocationOutcome.self)
        place(request, promise: promise, on: eventLoop, attempt: attempt)
        return promise.futureResult
    }

    /// Places an invoke whose caller waits on `promise`. What completes the promise gives the account's execution
    /// back first (``PendingInvocation/succeed(_:)``), and a refusal comes back to ``placeAgain(_:)``: no callback
    /// is chained to the promise per invoke.
    private func place(
        _ request: InvocationRequest, promise: EventLoopPromise<InvocationOutcome>, on eventLoop: any EventLoop,
        attempt: Int
    ) {
        let limit = spec.function.maximumConcurrency
        let function = spec.function.name
        let limiter = self.limiter
        let choice = state.withLockedValue { state -> Choice in
            if state.closed { return .closed }
            if let id = Self.takeIdle(provisioned: true, state: &state, preferring: eventLoop) {
                return .warm(state.environments[id]!.handle, .provisioned, slot: false)
            }
            if let refusal = limiter?.acquire(function) { return .throttled(reason: refusal.rawValue) }
            let slot = limiter != nil
            let capacity: InvocationEvent.Capacity = state.provisionedTarget > 0 ? .spillover : .onDemand
            if let id = Self.takeIdle(provisioned: false, state: &state, preferring: eventLoop) {
                return .warm(state.environments[id]!.handle, capacity, slot: slot)
            }
            if state.count < limit {
                state.count += 1
                state.alive += 1
                state.nextID += 1
                return .cold(id: state.nextID, capacity, slot: slot)
            }
            if slot { limiter?.release(function) }
            return .throttled(reason: ConcurrencyLimiter.Refusal.reserved.rawValue)
        }
        var pending = PendingInvocation(request: request, promise: promise, pool: self, attempt: attempt)
        switch choice {
        case .closed:
            placeElsewhere(request, on: eventLoop, attempt: attempt).cascade(to: promise)
        case .throttled(let reason):
            emitPlaced(request, .throttled(reason: reason))
            promise.fail(InvocationError(.throttled, "Rate Exceeded.", reason: reason))
        case .warm(let handle, let capacity, let slot):
            pending.capacity = capacity
            pending.holdsExecution = slot
            handle.invoke(pending)
        case .cold(let id, let capacity, let slot):
            pending.capacity = capacity
            pending.holdsExecution = slot
            emitPlaced(request, .coldStart, capacity: capacity)
            startEnvironment(id: id, on: eventLoop, pending: pending, provisioned: false)
        }
    }

    /// Gives back an execution of the account's that an invoke held.
    func releaseExecution() {
        limiter?.release(spec.function.name)
    }

    /// An invoke an environment refused (it stopped being ready): its execution given back, placed again, at most
    /// three times, then failed.
    func placeAgain(_ pending: PendingInvocation) {
        if pending.holdsExecution { releaseExecution() }
        guard pending.attempt < 3 else { return pending.promise.fail(EnvironmentNotReady()) }
        place(
            pending.request, promise: pending.promise, on: pending.promise.futureResult.eventLoop,
            attempt: pending.attempt + 1)
    }

    /// Takes the most recently used idle environment (provisioned or on-demand), preferring one on the caller's own
    /// event loop (no thread hop).
    private static func takeIdle(provisioned: Bool, state: inout State, preferring eventLoop: any EventLoop) -> Int? {
        // The list is changed in place: a copy of it, changed, would be copied again (an allocation per invoke).
        let taken =
            provisioned
            ? take(from: &state.idleProvisioned, environments: state.environments, preferring: eventLoop)
            : take(from: &state.idle, environments: state.environments, preferring: eventLoop)
        guard let id = taken, state.environments[id] != nil else { return nil }
        state.environments[id]!.idleSince = nil
        return id
    }

    /// The last id of `list` whose environment runs on `eventLoop`, else its last id; removed from `list`.
    private static func take(
        from list: inout [Int], environments: [Int: Entry], preferring eventLoop: any EventLoop
    ) -> Int? {
        guard !list.isEmpty else { return nil }
        var index = list.count - 1
        while index >= 0 {
            if let entry = environments[list[index]], entry.handle.loop === eventLoop { break }
            index -= 1
        }
        if index < 0 { index = list.count - 1 }
        return list.remove(at: index)
    }

    private func placeElsewhere(
        _ request: InvocationRequest, on eventLoop: any EventLoop, attempt: Int
    ) -> EventLoopFuture<InvocationOutcome> {
        guard let successor, attempt < 3 else { return eventLoop.makeFailedFuture(PoolClosed()) }
        return successor(request, eventLoop, attempt + 1)
    }

    private func emitPlaced(
        _ request: InvocationRequest, _ placement: InvocationEvent.Placed.Placement,
        capacity: InvocationEvent.Capacity = .onDemand
    ) {
        guard spec.events.wants(.placement(placement)) else { return }
        spec.events.emit(
            InvocationEvent(
                requestID: request.requestID,
                detail: .placed(
                    .init(
                        function: spec.function.name, version: spec.version, placement: placement, environment: nil,
                        capacity: capacity, qualifier: request.qualifier)))
        )
    }

    /// Starts an environment on `loop` (the caller's, so that its invokes from there need no thread hop).
    private func startEnvironment(id: Int, on loop: any EventLoop, pending: PendingInvocation?, provisioned: Bool) {
        let link = EnvironmentPoolLink(
            ready: { [weak self] id in self?.environmentReady(id) },
            released: { [weak self] id in self?.environmentReleased(id) },
            terminated: { [weak self] id in self?.environmentTerminated(id) })
        let spec = self.spec
        startReaperIfNeeded()
        loop.execute {
            let environment = ExecutionEnvironment(
                id: id, loop: loop, spec: spec, link: link, pending: pending,
                initializationType: provisioned ? .provisionedConcurrency : .onDemand)
            let handle = EnvironmentHandle(environment)
            let closed = self.state.withLockedValue { state -> Bool in
                state.environments[id] = Entry(
                    handle: handle, idleSince: nil, provisioned: provisioned, createdAt: .now())
                return state.closed
            }
            environment.start()
            // Retired or shut down while it was being created: it runs the invoke it was made for, then stops.
            if closed { environment.retire() }
        }
    }

    // MARK: provisioned concurrency

    /// Sets how many provisioned environments the pool keeps: missing ones are started now (each takes an
    /// execution from the account for its life), surplus ones stop (idle ones now, busy ones after their invoke).
    public func setProvisioned(_ target: Int) {
        let surplus = state.withLockedValue { state -> [EnvironmentHandle] in
            guard !state.closed else { return [] }
            state.provisionedTarget = max(0, target)
            state.provisionFailures = 0
            state.provisionNotBefore = .uptimeNanoseconds(0)
            // Those already leaving (lifetime, an earlier lowering) are not kept anyway.
            var keep =
                state.provisionedCount
                - state.environments.values.filter { $0.provisioned && !$0.released && $0.leaving }.count
            var surplus: [EnvironmentHandle] = []
            // Idle ones first, then the others (they finish their invoke).
            let candidates =
                state.idleProvisioned.reversed()
                + state.environments.keys.sorted().filter { id in
                    !state.idleProvisioned.contains(id)
                }
            for id in candidates where keep > state.provisionedTarget {
                guard var entry = state.environments[id], entry.provisioned, !entry.released, !entry.leaving else {
                    continue
                }
                entry.leaving = true
                state.environments[id] = entry
                state.idleProvisioned.removeAll { $0 == id }
                surplus.append(entry.handle)
                keep -= 1
            }
            return surplus
        }
        for handle in surplus { handle.retire(reason: .deprovisioned) }
        // The sweep also retries provisioned environments the account had no execution for.
        if target > 0 { startReaperIfNeeded() }
        fillProvisioned()
    }

    /// Starts provisioned environments until the target is met (or the account has no execution left for them;
    /// the idle sweep tries again).
    private func fillProvisioned() {
        let function = spec.function.name
        let limiter = self.limiter
        let now = NIODeadline.now()
        let ids = state.withLockedValue { state -> [Int] in
            guard !state.closed, now >= state.provisionNotBefore else { return [] }
            let leaving = state.environments.values.filter { $0.provisioned && !$0.released && $0.leaving }.count
            var ids: [Int] = []
            while state.provisionedCount - leaving < state.provisionedTarget {
                if limiter?.acquire(function) != nil { break }
                state.provisionedCount += 1
                state.alive += 1
                state.nextID += 1
                ids.append(state.nextID)
            }
            return ids
        }
        for id in ids { startEnvironment(id: id, on: group.next(), pending: nil, provisioned: true) }
    }

    // MARK: environment callbacks

    /// The idle sweep runs only for pools that have environments.
    private func startReaperIfNeeded() {
        let interval = TimeAmount.nanoseconds(
            max(
                TimeAmount.milliseconds(200).nanoseconds,
                min(
                    idleTimeout.nanoseconds / 4, TimeAmount.seconds(15).nanoseconds,
                    maximumLifetime.map { $0.nanoseconds / 4 } ?? Int64.max)))
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
            if state.closed || entry.leaving { return entry.handle }
            if entry.provisioned && !entry.initialized { state.provisionFailures = 0 }
            entry.initialized = true
            entry.idleSince = .now()
            state.environments[id] = entry
            if entry.provisioned {
                state.idleProvisioned.append(id)
            } else {
                state.idle.append(id)
            }
            return nil
        }
        retire?.retire()
    }

    /// The runtime process is gone: its slot is free for the next cold start; a provisioned one gives its
    /// execution back and is replaced.
    private func environmentReleased(_ id: Int) {
        let provisioned = state.withLockedValue { state -> Bool in
            guard var entry = state.environments[id], !entry.released else { return false }
            entry.released = true
            state.environments[id] = entry
            Self.forget(id, entry, in: &state)
            guard entry.provisioned else { return false }
            if !entry.initialized {
                // Its INIT failed: wait before the next attempt, longer each time (1 s, 2 s, … 60 s).
                state.provisionFailures += 1
                let seconds = min(60, 1 << min(state.provisionFailures - 1, 6))
                state.provisionNotBefore = .now() + .seconds(Int64(seconds))
            }
            return true
        }
        guard provisioned else { return }
        limiter?.release(spec.function.name)
        fillProvisioned()
    }

    /// Gives back what a released environment held in the pool's counts.
    private static func forget(_ id: Int, _ entry: Entry, in state: inout State) {
        if entry.provisioned {
            state.provisionedCount -= 1
            state.idleProvisioned.removeAll { $0 == id }
        } else {
            state.count -= 1
            state.idle.removeAll { $0 == id }
        }
    }

    private func environmentTerminated(_ id: Int) {
        let (drained, heldSlot) = state.withLockedValue { state -> ([EventLoopPromise<Void>], Bool) in
            guard let entry = state.environments.removeValue(forKey: id) else { return ([], false) }
            if !entry.released { Self.forget(id, entry, in: &state) }
            state.alive -= 1
            // A provisioned environment holds an execution until it is released.
            let heldSlot = entry.provisioned && !entry.released
            if state.closed && state.alive == 0 {
                defer { state.drained = [] }
                return (state.drained, heldSlot)
            }
            return ([], heldSlot)
        }
        if heldSlot { limiter?.release(spec.function.name) }
        for promise in drained { promise.succeed() }
    }

    /// Shuts down on-demand environments idle for longer than the idle timeout (provisioned ones stay), and
    /// environments past the maximum lifetime (idle ones now, busy ones after their invoke; provisioned ones are
    /// replaced); then tops provisioned concurrency up.
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
        let maximumLifetime = self.maximumLifetime
        let (expired, aged) = state.withLockedValue { state -> ([EnvironmentHandle], [EnvironmentHandle]) in
            var expired: [EnvironmentHandle] = []
            var aged: [EnvironmentHandle] = []
            state.idle.removeAll { id in
                guard let entry = state.environments[id], let since = entry.idleSince, now - since >= limit
                else { return false }
                expired.append(entry.handle)
                return true
            }
            guard let maximumLifetime else { return (expired, aged) }
            for (id, var entry) in state.environments
            where !entry.released && !entry.leaving && now - entry.createdAt >= maximumLifetime {
                entry.leaving = true
                state.environments[id] = entry
                state.idle.removeAll { $0 == id }
                state.idleProvisioned.removeAll { $0 == id }
                aged.append(entry.handle)
            }
            return (expired, aged)
        }
        for handle in expired { handle.stop(reason: .idle) }
        for handle in aged { handle.retire(reason: .lifetime) }
        if !aged.isEmpty || state.withLockedValue({ $0.provisionedCount < $0.provisionedTarget }) {
            fillProvisioned()
        }
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
            state.idleProvisioned.removeAll()
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

    func retire(reason: InvocationEvent.EnvironmentStopped.Reason = .retired) {
        loop.execute { bound.value.retire(reason: reason) }
    }
}
