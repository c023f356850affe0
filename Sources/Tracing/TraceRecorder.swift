import Foundation
public import InvocationModel
public import LambdaModel
import NIOConcurrencyHelpers
public import NIOCore

/// Writes the platform's X-Ray segments for sampled invokes, from the invocation event stream: a subscriber of
/// ``InvocationEventBus`` like the log writer, so it adds nothing to the hot path beyond the events, and it never
/// runs on an event loop.
///
/// An invoke is traced when its `resolved` event carries a ``TraceContext`` (the invoker sampled it, or an
/// upstream did). Its segments are written once the runtime asks for its next event (the end of `Overhead`),
/// or when its environment stops, or after ``overheadWait`` without either.
public final class TraceRecorder: InvocationEventSubscriber {
    public let interests: InvocationEvent.Kinds = [
        .resolved, .placements, .initStarted, .initFinished, .invokeStarted, .invokeFinished, .environmentStopped,
        .runtimeNext,
    ]

    /// How long a finished invoke waits for the runtime's next `/next` before it is written without `Overhead`.
    public static let overheadWait: TimeAmount = .seconds(2)
    /// Above this many invokes in flight, those resolved over 16 minutes ago are forgotten.
    static let prunedAbove = 10_000

    private struct Request {
        var trace: TraceContext
        var function: String
        var qualifier: String?
        var resolvedAt: NIODeadline
        /// Placed on a new environment: its INIT (in the invoke's environment) is this invoke's Initialization.
        var coldStart = false
        var invokeStartedAt: NIODeadline?
    }

    private struct Initialization {
        var start: NIODeadline
        var end: NIODeadline?
        var failed = false
    }

    private struct Pending {
        var invocation: TracedInvocation
        var finishedAt: NIODeadline
    }

    private struct State {
        var requests: [String: Request] = [:]
        var initializations: [Int: Initialization] = [:]
        /// Finished invokes waiting for their environment's next `/next`, by environment id.
        var pending: [Int: Pending] = [:]
        var random = SystemRandomNumberGenerator()
    }

    private let account: AccountContext
    private let store: TraceStore
    private let state = NIOLockedValueBox(State())
    private let subscription = BusAttachment()

    public init(account: AccountContext, store: TraceStore) {
        self.account = account
        self.store = store
    }

    public func attach(to bus: InvocationEventBus) {
        subscription.attach(self, to: bus, name: "traces", capacity: 200_000)
    }

    /// Blocks until every event emitted so far is handled and its documents are on disk. Not for event loops.
    public func flush() {
        subscription.flushBlocking()
        store.flush()
    }

    /// Writes what waits for an `Overhead` end, unsubscribes and stops the store.
    public func shutdown() {
        subscription.detach()
        let documents = state.withLockedValue { state -> [SegmentDocument] in
            defer { state.pending = [:] }
            return state.pending.values.flatMap { Self.documents($0.invocation, random: &state.random) }
        }
        store.append(documents)
        store.shutdown()
    }

    // MARK: the subscriber

    public func receive(_ events: [InvocationEvent]) {
        let wallNow = Date().timeIntervalSince1970
        let monoNow = NIODeadline.now()
        let epoch: (NIODeadline) -> Double = { wallNow - Double((monoNow - $0).nanoseconds) / 1e9 }
        let documents = state.withLockedValue { state -> [SegmentDocument] in
            var documents: [SegmentDocument] = []
            for event in events { handle(event, epoch: epoch, state: &state, into: &documents) }
            // Invokes whose runtime never asked again.
            for (environment, pending) in state.pending where monoNow - pending.finishedAt > Self.overheadWait {
                state.pending[environment] = nil
                documents += Self.documents(pending.invocation, random: &state.random)
            }
            // Sampled invokes that never finished (refused after they were resolved, e.g. at shutdown): none can
            // run longer than the 900 s timeout.
            if state.requests.count > Self.prunedAbove {
                state.requests = state.requests.filter { monoNow - $0.value.resolvedAt < .seconds(960) }
            }
            return documents
        }
        store.append(documents)
    }

    private func handle(
        _ event: InvocationEvent, epoch: (NIODeadline) -> Double, state: inout State,
        into documents: inout [SegmentDocument]
    ) {
        switch event.detail {
        case .resolved(let resolved):
            guard let trace = resolved.trace else { return }
            state.requests[event.requestID] = Request(
                trace: trace, function: resolved.function, qualifier: resolved.qualifier, resolvedAt: event.at)
        case .placed(let placed):
            guard var request = state.requests[event.requestID] else { return }
            switch placed.placement {
            case .throttled:
                state.requests[event.requestID] = nil
                var invocation = makeInvocation(event.requestID, request, end: event.at, epoch: epoch)
                invocation.throttled = true
                documents += Self.documents(invocation, random: &state.random)
            case .coldStart:
                request.coldStart = true
                state.requests[event.requestID] = request
            case .warm, .queued:
                break
            }
        case .initStarted(let started):
            state.initializations[started.environment.id] = Initialization(start: started.createdAt)
        case .initFinished(let finished):
            state.initializations[finished.environment.id]?.end = event.at
            switch finished.result {
            case .failed, .timedOut: state.initializations[finished.environment.id]?.failed = true
            case .ready, .suppressed: break
            }
        case .invokeStarted:
            state.requests[event.requestID]?.invokeStartedAt = event.at
        case .invokeFinished(let finished):
            guard let request = state.requests.removeValue(forKey: event.requestID) else { return }
            var invocation = makeInvocation(event.requestID, request, end: event.at, epoch: epoch)
            if request.coldStart, let initialization = state.initializations[finished.environment.id] {
                invocation.initialization = .init(
                    start: epoch(initialization.start), end: epoch(initialization.end ?? event.at))
                invocation.initFailed = initialization.failed
            }
            if let started = request.invokeStartedAt {
                invocation.invocation = .init(start: epoch(started), end: epoch(event.at))
            }
            if finished.status != nil {
                invocation.errorType = finished.errorType ?? "Runtime.Unknown"
                invocation.errorMessage = finished.errorMessage
                invocation.errorCause = finished.xrayErrorCause
            }
            // A previous invoke of this environment still waiting is written as it is.
            if let earlier = state.pending.removeValue(forKey: finished.environment.id) {
                documents += Self.documents(earlier.invocation, random: &state.random)
            }
            state.pending[finished.environment.id] = Pending(invocation: invocation, finishedAt: event.at)
        case .runtimeNext(let next):
            guard var pending = state.pending.removeValue(forKey: next.environment.id) else { return }
            if let end = pending.invocation.invocation?.end {
                pending.invocation.overhead = .init(start: end, end: max(end, epoch(event.at)))
            }
            documents += Self.documents(pending.invocation, random: &state.random)
        case .environmentStopped(let stopped):
            state.initializations[stopped.environment.id] = nil
            if let pending = state.pending.removeValue(forKey: stopped.environment.id) {
                documents += Self.documents(pending.invocation, random: &state.random)
            }
        case .received, .output, .responseWritten, .async, .freeze:
            break
        }
    }

    private func makeInvocation(
        _ requestID: String, _ request: Request, end: NIODeadline, epoch: (NIODeadline) -> Double
    ) -> TracedInvocation {
        TracedInvocation(
            requestID: requestID, function: request.function,
            functionARN: account.functionARN(request.function, qualifier: request.qualifier),
            accountID: account.accountID, traceID: request.trace.root, invocationID: request.trace.parent,
            upstreamParent: request.trace.upstreamParent,
            service: .init(start: epoch(request.resolvedAt), end: epoch(end)))
    }

    private static func documents(
        _ invocation: TracedInvocation, random: inout SystemRandomNumberGenerator
    ) -> [SegmentDocument] {
        // The X-Ray SDK would refuse a Root that is not well formed; the store would too (it names files).
        guard SegmentDocument.isTraceID(invocation.traceID) else { return [] }
        return PlatformSegments.documents(for: invocation) { TraceHeader.newSegmentID(using: &random) }
    }
}
