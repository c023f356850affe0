import Atomics
import Foundation
import NIOConcurrencyHelpers

/// Receives invocation events, in the order they were emitted, on a thread of its own subscription.
public protocol InvocationEventSubscriber: AnyObject, Sendable {
    /// The kinds this subscriber wants; read once, when it subscribes.
    var interests: InvocationEvent.Kinds { get }
    /// Called on the subscription's thread with a batch of events, oldest first. May block (files, sockets):
    /// only this subscriber waits.
    func receive(_ events: [InvocationEvent])
}

/// The invocation event stream: environments, pools, the invoker and the front end emit; subscribers (the log
/// writer, later metrics, traces and `bench`) receive.
///
/// Emitting never blocks and costs one atomic load when no subscriber wants that kind of event: callers check
/// ``wants(_:)`` before they build an event. Each subscription has its own bounded queue and thread, so a slow
/// subscriber delays only itself; past its bound, events for it are dropped and counted
/// (``InvocationEventSubscription/droppedEvents``), never queued without limit and never waited for.
///
/// The one producer that can be slowed down, a runtime's output, is: a subscription that wants `output` and has
/// more than its high-water mark queued makes ``outputIsBehind`` true until it is back under its low-water mark,
/// and the readers of the output pipes stop reading meanwhile (the runtime's writes then block in the kernel).
public final class InvocationEventBus: Sendable {
    /// The immutable list of subscriptions, swapped as a whole.
    private final class Snapshot: AtomicReference, Sendable {
        let subscriptions: [InvocationEventSubscription]
        let interests: UInt32
        init(_ subscriptions: [InvocationEventSubscription]) {
            self.subscriptions = subscriptions
            self.interests = subscriptions.reduce(0) { $0 | $1.interests.rawValue }
        }
    }

    private let snapshot = ManagedAtomic(Snapshot([]))
    /// The snapshot's `interests`, on their own: ``wants(_:)`` runs several times per request, and loading the
    /// snapshot (a strong reference: a double-word compare-and-swap, a retain and a release) costs about ten times
    /// what loading a plain integer does. Stored after the snapshot, under `changes`.
    private let interests = ManagedAtomic<UInt32>(0)
    private let changes = NIOLock()
    /// The subscriptions that want `output` and are behind (past their high-water mark, not yet back under their
    /// low-water mark).
    private let outputBacklogs = ManagedAtomic<Int>(0)
    private let outputPauses = ManagedAtomic<Int>(0)

    public init() {}

    /// Whether a subscriber of `output` events is behind: producers of output that can wait (the readers of the
    /// runtimes' output pipes) hold their reading until it is not. One atomic load.
    @inline(__always)
    public var outputIsBehind: Bool {
        outputBacklogs.load(ordering: .relaxed) != 0
    }

    /// Times a reader of output held its reading because ``outputIsBehind`` (for `/metrics`).
    public var outputPauseCount: Int { outputPauses.load(ordering: .relaxed) }

    /// A reader of output held its reading (see ``outputIsBehind``).
    public func countOutputPause() {
        outputPauses.wrappingIncrement(ordering: .relaxed)
    }

    /// Whether any subscriber wants events of `kind`.
    @inline(__always)
    public func wants(_ kind: InvocationEvent.Kinds) -> Bool {
        interests.load(ordering: .acquiring) & kind.rawValue != 0
    }

    /// Hands `event` to every subscriber that wants its kind.
    public func emit(_ event: InvocationEvent) {
        let kind = event.kind.rawValue
        guard interests.load(ordering: .acquiring) & kind != 0 else { return }
        let current = snapshot.load(ordering: .acquiring)
        for subscription in current.subscriptions where subscription.interests.rawValue & kind != 0 {
            subscription.enqueue(event)
        }
    }

    /// Starts delivering events to `subscriber` on a new thread.
    /// - Parameters:
    ///   - capacity: events queued for it at most; more are dropped and counted.
    ///   - pause: seconds its thread waits after a small batch before it takes the next, so that events gather
    ///     into larger batches (fewer wakes, each of which costs a context switch and the batch's overhead). A
    ///     flush cuts the pause short, so a longer pause delays only what no one waits for: right for subscribers
    ///     read at intervals (metrics, the dashboard), not for those followed live (logs).
    @discardableResult
    public func subscribe(
        _ subscriber: any InvocationEventSubscriber, name: String, capacity: Int = 100_000,
        pause: Double = InvocationEventSubscription.defaultPause
    ) -> InvocationEventSubscription {
        let subscription = InvocationEventSubscription(
            subscriber: subscriber, name: name, capacity: capacity, pause: pause,
            backlogs: subscriber.interests.contains(.output) ? outputBacklogs : nil)
        changes.withLock {
            let current = snapshot.load(ordering: .relaxed)
            replace(with: current.subscriptions + [subscription])
        }
        return subscription
    }

    /// Stops delivering to `subscription` once what was already queued for it is delivered.
    public func unsubscribe(_ subscription: InvocationEventSubscription) {
        changes.withLock {
            let current = snapshot.load(ordering: .relaxed)
            replace(with: current.subscriptions.filter { $0 !== subscription })
        }
        subscription.stop()
    }

    /// Swaps the list of subscriptions (under `changes`).
    private func replace(with subscriptions: [InvocationEventSubscription]) {
        let next = Snapshot(subscriptions)
        snapshot.store(next, ordering: .releasing)
        interests.store(next.interests, ordering: .releasing)
    }

    /// Completes once every event emitted before the call has been delivered to every subscriber.
    public func flush() async {
        let subscriptions = snapshot.load(ordering: .acquiring).subscriptions
        for subscription in subscriptions { await subscription.flush() }
    }

    /// Blocking form of ``flush()``, for threads that may block (never an event loop).
    public func flushBlocking() {
        for subscription in snapshot.load(ordering: .acquiring).subscriptions { subscription.flushBlocking() }
    }

    /// Delivers what is queued, then stops every subscription's thread.
    public func shutdown() {
        let subscriptions = changes.withLock { () -> [InvocationEventSubscription] in
            let current = snapshot.load(ordering: .relaxed)
            replace(with: [])
            return current.subscriptions
        }
        for subscription in subscriptions { subscription.stop() }
    }
}

/// One subscriber's queue and delivery thread.
///
/// Events are queued as they are (no wrapper) and the queued array is handed to the subscriber as one batch:
/// an event is copied once, into the queue, on its way to a subscriber.
public final class InvocationEventSubscription: Sendable {
    private struct Queue {
        var events: [InvocationEvent] = []
        /// Flush barriers: each runs once the events queued before it (the first `at`) were delivered.
        var barriers: [(at: Int, body: @Sendable () -> Void)] = []
        var dropped = 0
        var stopped = false
        /// Past the high-water mark and not yet back under the low-water mark (counted in `backlogs`).
        var behind = false
    }

    let interests: InvocationEvent.Kinds
    private let subscriber: any InvocationEventSubscriber
    private let capacity: Int
    private let queue = NIOLockedValueBox(Queue())
    /// 1 when there is something to do; the thread sleeps on 0.
    private let signal = ConditionLock<Int>(value: 0)
    /// True when a flush or the stop waits: ends the pause between batches early.
    private let urgent = ConditionLock<Bool>(value: false)
    private let finished = ConditionLock<Bool>(value: false)
    /// Seconds between a small batch and the next (see ``InvocationEventBus/subscribe(_:name:capacity:pause:)``).
    private let pause: Double
    /// The bus's count of subscriptions behind, for a subscription that wants `output`; nil for the others.
    private let backlogs: ManagedAtomic<Int>?
    /// Events queued from which the subscription is behind, and below which it no longer is once a batch has
    /// been delivered.
    let highWater: Int
    let lowWater: Int

    /// The high-water mark of a subscription of `output` (half its capacity when that is smaller): a few MB of
    /// lines queued at most before the runtimes' pipes are left unread, far below the point where any is dropped.
    public static let outputHighWater = 8192

    /// The pause of subscribers followed live (the log writer): events reach them at most a couple of
    /// milliseconds later.
    public static let defaultPause = 0.002

    init(
        subscriber: any InvocationEventSubscriber, name: String, capacity: Int, pause: Double = defaultPause,
        backlogs: ManagedAtomic<Int>? = nil
    ) {
        self.subscriber = subscriber
        self.interests = subscriber.interests
        self.capacity = capacity
        self.pause = pause
        self.backlogs = backlogs
        self.highWater = max(1, min(Self.outputHighWater, capacity / 2))
        self.lowWater = highWater / 4
        // Named from inside, so that the kernel's name (`comm`, what top -H and bench/run.sh's breakdown by
        // thread show) is set too; it holds 15 bytes. Set from outside, it stays the creating thread's name.
        let threadName = String("events-\(name)".utf8.prefix(15)) ?? "events"
        let thread = Thread { [self] in
            Thread.current.name = threadName
            self.run()
        }
        thread.start()
    }

    /// Events dropped because the subscriber fell more than its capacity behind.
    public var droppedEvents: Int { queue.withLockedValue { $0.dropped } }

    func enqueue(_ event: InvocationEvent) {
        let wake = queue.withLockedValue { queue -> Bool in
            if queue.stopped { return false }
            if queue.events.count >= capacity {
                queue.dropped += 1
                return false
            }
            queue.events.append(event)
            if queue.events.count >= highWater, !queue.behind, let backlogs {
                queue.behind = true
                backlogs.wrappingIncrement(ordering: .relaxed)
            }
            return queue.events.count == 1 && queue.barriers.isEmpty
        }
        if wake { poke() }
    }

    private func enqueueBarrier(_ body: @escaping @Sendable () -> Void) {
        let accepted = queue.withLockedValue { queue -> Bool in
            if queue.stopped { return false }
            queue.barriers.append((queue.events.count, body))
            return true
        }
        if accepted {
            poke()
            hurry()
        } else {
            body()
        }
    }

    private func poke() {
        signal.lock()
        signal.unlock(withValue: 1)
    }

    private func hurry() {
        urgent.lock()
        urgent.unlock(withValue: true)
    }

    public func flush() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            enqueueBarrier { continuation.resume() }
        }
    }

    public func flushBlocking() {
        let done = ConditionLock<Bool>(value: false)
        enqueueBarrier {
            done.lock()
            done.unlock(withValue: true)
        }
        done.lock(whenValue: true)
        done.unlock()
    }

    /// Delivers what is queued, then ends the thread; waits until it has.
    func stop() {
        let wasStopped = queue.withLockedValue { queue -> Bool in
            defer { queue.stopped = true }
            return queue.stopped
        }
        if !wasStopped {
            poke()
            hurry()
        }
        finished.lock(whenValue: true)
        finished.unlock()
    }

    private func run() {
        var events: [InvocationEvent] = []
        while true {
            signal.lock(whenValue: 1)
            signal.unlock(withValue: 0)
            let (barriers, stopped, behind) = queue.withLockedValue {
                queue -> ([(at: Int, body: @Sendable () -> Void)], Bool, Bool) in
                // The delivered (emptied) array goes back with its capacity, so that queueing rarely allocates.
                swap(&events, &queue.events)
                defer { queue.barriers.removeAll(keepingCapacity: true) }
                return (queue.barriers, queue.stopped, queue.behind)
            }
            deliver(events, barriers: barriers)
            let count = events.count
            events.removeAll(keepingCapacity: true)
            // Behind when this batch was taken: no longer once what has queued since is under the low-water mark
            // (or the subscription stops). `behind` is only ever set with events queued, so a batch follows.
            if behind { catchUp(stopping: stopped) }
            if stopped {
                // Barriers that raced with the stop still run, so that no waiter hangs.
                let late = queue.withLockedValue { queue -> [(at: Int, body: @Sendable () -> Void)] in
                    defer { queue.barriers = [] }
                    return queue.barriers
                }
                for barrier in late { barrier.body() }
                finished.lock()
                finished.unlock(withValue: true)
                return
            }
            // Under load, waking for every event costs a context switch per event; a pause lets events
            // accumulate into larger batches (they reach the subscriber at most `pause` later, a flush sooner).
            if count < 256, urgent.lock(whenValue: true, timeoutSeconds: pause) { urgent.unlock(withValue: false) }
        }
    }

    private func catchUp(stopping: Bool) {
        queue.withLockedValue { queue in
            guard queue.behind, stopping || queue.events.count < lowWater, let backlogs else { return }
            queue.behind = false
            backlogs.wrappingDecrement(ordering: .relaxed)
        }
    }

    /// Hands `events` over in order, running each barrier once the events queued before it were delivered.
    private func deliver(_ events: [InvocationEvent], barriers: [(at: Int, body: @Sendable () -> Void)]) {
        var start = 0
        for barrier in barriers {
            if barrier.at > start {
                subscriber.receive(Array(events[start..<barrier.at]))
                start = barrier.at
            }
            barrier.body()
        }
        if start == 0 {
            if !events.isEmpty { subscriber.receive(events) }
        } else if start < events.count {
            subscriber.receive(Array(events[start...]))
        }
    }
}

/// A subscriber's link to the bus it is attached to: attach once, flush (blocking or async), detach. The one
/// place for that plumbing, shared by the subscribers that own files (the log writer, the access-log writer).
public final class BusAttachment: Sendable {
    private let link = NIOLockedValueBox<(InvocationEventBus, InvocationEventSubscription)?>(nil)

    public init() {}

    /// Subscribes `subscriber` to `bus` under `name`.
    public func attach(
        _ subscriber: any InvocationEventSubscriber, to bus: InvocationEventBus, name: String, capacity: Int
    ) {
        let subscription = bus.subscribe(subscriber, name: name, capacity: capacity)
        link.withLockedValue { $0 = (bus, subscription) }
    }

    /// Events dropped because the subscriber fell more than its capacity behind.
    public var droppedEvents: Int { link.withLockedValue { $0?.1.droppedEvents ?? 0 } }

    /// Blocks until every event emitted so far was delivered. Not for event loops.
    public func flushBlocking() {
        link.withLockedValue { $0 }?.1.flushBlocking()
    }

    /// Waits until every event emitted so far was delivered.
    public func flush() async {
        guard let subscription = link.withLockedValue({ $0 })?.1 else { return }
        await subscription.flush()
    }

    /// Delivers what is queued and unsubscribes (once; later calls do nothing).
    public func detach() {
        let current = link.withLockedValue { box -> (InvocationEventBus, InvocationEventSubscription)? in
            defer { box = nil }
            return box
        }
        if let (bus, subscription) = current { bus.unsubscribe(subscription) }
    }
}
