/// The extensions of one execution environment (runtime-api.md §1.9, §2.1), as pure bookkeeping that
/// ``EnvironmentStateMachine`` consults for its gates: INIT ends only once every extension is ready, and an invoke
/// is over (the environment free again) only once every extension registered for `INVOKE` has asked for its next
/// event.
///
/// An *external* extension is one of the executables the platform started from the layers' `extensions/`
/// directory: it registers under its file name. Any other registration (a thread of the runtime, such as
/// aws-lambda-go's `GoLangEnableSIGTERM`) is *internal*: it may not subscribe to `SHUTDOWN` and goes with the
/// runtime process. Events are rendered by the owner (they carry wall-clock deadlines) and handed in as text; an
/// event for an extension that is not parked in `event/next` is kept and delivered on its next call.
struct ExtensionRegistry<Waiter: AnyObject> {
    enum EventType: String, Sendable {
        case invoke = "INVOKE"
        case shutdown = "SHUTDOWN"
    }

    enum Phase {
        /// Registered, has not asked for an event yet (INIT waits for it).
        case registered
        /// Parked in `event/next`: ready.
        case parked(Waiter)
        /// Got an event and has not asked for the next one (an invoke waits for it).
        case working
    }

    struct Slot {
        var id: String
        var name: String
        var events: Set<EventType>
        var isInternal: Bool
        var phase: Phase
        /// An event for it while it was not parked.
        var queued: String?
        /// It was sent `SHUTDOWN`: it gets nothing more.
        var shutDown = false
    }

    /// AWS's limit on extensions per function.
    static var maximumCount: Int { 10 }

    private(set) var slots: [Slot] = []
    /// External extensions started and not registered yet.
    private(set) var expected: Set<String> = []

    enum RegisterResult: Equatable {
        case registered(isInternal: Bool)
        /// `Extension.TooManyExtensions`.
        case tooMany
        /// An internal extension asked for `SHUTDOWN`.
        case shutdownNotAllowed
        /// The name is already registered (`Extension.AlreadyRegistered`).
        case duplicate
    }

    /// The external extensions are being started and their names are not known here yet: a registration now is
    /// one of them (the runtime, and so any internal extension, starts only after them).
    private(set) var launching = false

    /// The external extensions are about to be started.
    mutating func launchStarted() {
        launching = true
    }

    /// The external extensions that were started (those that registered while they were being started are not
    /// waited for again).
    mutating func expect(_ names: [String]) {
        launching = false
        expected.formUnion(names.filter { name in !slots.contains { $0.name == name } })
    }

    /// Whether INIT may end as far as extensions go: every started one registered, every registered one ready.
    var initComplete: Bool {
        expected.isEmpty && slots.allSatisfy { if case .parked = $0.phase { return true } else { return false } }
    }

    /// Whether an event is outstanding with some extension (the invoke, or the shutdown, is not over).
    var anyWorking: Bool {
        slots.contains { slot in
            if slot.queued != nil { return true }
            if case .working = slot.phase { return !slot.shutDown }
            return false
        }
    }

    var isEmpty: Bool { slots.isEmpty }
    var hasExternal: Bool { slots.contains { !$0.isInternal } || !expected.isEmpty }

    mutating func register(name: String, events: Set<EventType>, id: String) -> RegisterResult {
        guard !slots.contains(where: { $0.name == name }) else { return .duplicate }
        guard slots.count < Self.maximumCount else { return .tooMany }
        let isInternal = !launching && !expected.contains(name)
        if isInternal && events.contains(.shutdown) { return .shutdownNotAllowed }
        expected.remove(name)
        slots.append(Slot(id: id, name: name, events: events, isInternal: isInternal, phase: .registered))
        return .registered(isInternal: isInternal)
    }

    func slot(id: String) -> Slot? { slots.first { $0.id == id } }

    enum NextResult: Equatable {
        /// `Extension.InvalidExtensionIdentifier`.
        case unknown
        /// Answer at once with this queued event.
        case deliver(String)
        case park
    }

    /// `GET event/next` from the extension `id`.
    mutating func next(id: String, waiter: Waiter) -> NextResult {
        guard let index = slots.firstIndex(where: { $0.id == id }) else { return .unknown }
        if let event = slots[index].queued {
            slots[index].queued = nil
            slots[index].phase = .working
            return .deliver(event)
        }
        slots[index].phase = .parked(waiter)
        return .park
    }

    /// A connection closed: an extension parked on it is no longer ready (it is expected to ask again).
    mutating func waiterGone(_ waiter: Waiter) {
        for index in slots.indices {
            if case .parked(let parked) = slots[index].phase, parked === waiter { slots[index].phase = .working }
        }
    }

    /// Hands `event` to every extension subscribed to `type` that has not been shut down: returns the parked ones,
    /// to answer now; the others get it on their next `event/next`.
    mutating func send(_ event: String, to type: EventType) -> [Waiter] {
        var now: [Waiter] = []
        for index in slots.indices where slots[index].events.contains(type) && !slots[index].shutDown {
            if type == .shutdown { slots[index].shutDown = true }
            if case .parked(let waiter) = slots[index].phase {
                slots[index].phase = .working
                now.append(waiter)
            } else {
                slots[index].queued = event
            }
        }
        return now
    }

    /// The parked waiters of every extension (released when the environment ends).
    var parkedWaiters: [Waiter] {
        slots.compactMap { if case .parked(let waiter) = $0.phase { return waiter } else { return nil } }
    }

    /// An external extension's process exited (or could not start). Returns whether it had registered.
    @discardableResult
    mutating func exited(name: String) -> Bool {
        expected.remove(name)
        let count = slots.count
        slots.removeAll { $0.name == name && !$0.isInternal }
        return slots.count != count
    }

    /// The runtime process is gone, and its internal extensions with it.
    mutating func removeInternal() {
        slots.removeAll { $0.isInternal }
    }
}
