import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// A Server-Sent Events feed on the admin listener (`GET` of its path answers `text/event-stream` and stays
/// open): whatever ``broadcast(_:)`` is given goes to every connected client as one `data:` event, and a client that
/// connects gets the latest event at once.
///
/// Bounded and never blocking: at most ``Limits/maximumClients`` at a time (more are answered 503); a write goes to
/// each client's event loop and returns at once; a client that does not read fast enough (its channel stops being
/// writable, i.e. more than the write-buffer high-water mark is pending) is dropped rather than buffered for.
public final class EventStream: Sendable {
    public struct Limits: Sendable {
        public var maximumClients: Int

        public init(maximumClients: Int = 16) {
            self.maximumClients = maximumClients
        }
    }

    private struct State {
        var clients: [ObjectIdentifier: any Channel] = [:]
        var latest: String?
        var dropped = 0
        /// Tasks in ``waitForClient()``, by ticket; resumed when a client connects or their task is cancelled.
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        /// Tickets whose task was cancelled before it could wait.
        var cancelled: Set<Int> = []
        var nextTicket = 0
    }

    private let state = NIOLockedValueBox(State())
    public let limits: Limits

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// Clients connected now.
    public var clientCount: Int { state.withLockedValue { $0.clients.count } }

    /// Returns once a client is connected (at once when one is), or when the calling task is cancelled: what a
    /// feed that works only while watched waits on, instead of polling ``clientCount``.
    public func waitForClient() async {
        let ticket = state.withLockedValue { state -> Int in
            state.nextTicket += 1
            return state.nextTicket
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLockedValue { state -> Bool in
                    if !state.clients.isEmpty || state.cancelled.remove(ticket) != nil { return true }
                    state.waiters[ticket] = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
                if let waiter = state.waiters.removeValue(forKey: ticket) { return waiter }
                state.cancelled.insert(ticket)
                return nil
            }
            waiter?.resume()
        }
        // A cancellation that came after the wait ended leaves its ticket behind.
        state.withLockedValue { _ = $0.cancelled.remove(ticket) }
    }

    /// Clients dropped so far for reading too slowly.
    public var droppedCount: Int { state.withLockedValue { $0.dropped } }

    /// Sends `data` (one line of JSON, say) to every client as an SSE `data:` event; it is also what a client that
    /// connects later gets first.
    public func broadcast(_ data: String) {
        broadcast(sse: Self.event(data))
    }

    /// Sends `event`, already in SSE form (its `data:` lines and the blank line that ends it), to every client: for
    /// a feed that writes its lines that way as it formats them, instead of splitting its text again.
    func broadcast(sse event: String) {
        let clients = state.withLockedValue { state -> [any Channel] in
            state.latest = event
            return Array(state.clients.values)
        }
        for channel in clients { send(event, to: channel) }
    }

    /// `data: …` with every line of `data` its own `data:` line, and the blank line that ends an event.
    static func event(_ data: String) -> String {
        data.split(separator: "\n", omittingEmptySubsequences: false).map { "data: \($0)\n" }.joined() + "\n"
    }

    private func send(_ event: String, to channel: any Channel) {
        channel.eventLoop.execute {
            guard channel.isActive else { return }
            guard channel.isWritable else {
                // The client is not keeping up: drop it rather than buffer without bound.
                self.state.withLockedValue { $0.dropped += 1 }
                channel.close(promise: nil)
                return
            }
            let buffer = channel.allocator.buffer(string: event)
            channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(buffer)), promise: nil)
        }
    }

    /// Registers a connection whose response head was written; false when the stream is full.
    func attach(_ channel: any Channel) -> Bool {
        let id = ObjectIdentifier(channel)
        let (latest, waiters) = state.withLockedValue {
            state -> (String??, [CheckedContinuation<Void, Never>]) in
            guard state.clients.count < limits.maximumClients else { return (.none, []) }
            state.clients[id] = channel
            defer { state.waiters.removeAll() }
            return (.some(state.latest), Array(state.waiters.values))
        }
        for waiter in waiters { waiter.resume() }
        guard case .some(let first) = latest else { return false }
        channel.closeFuture.whenComplete { _ in
            _ = self.state.withLockedValue { $0.clients.removeValue(forKey: id) }
        }
        // An SSE comment opens the body at once, then the latest event if there is one.
        send(": albatross\n\n" + (first ?? ""), to: channel)
        return true
    }
}
