import AdminServer
import AlbatrossTestKit
import Foundation
import NIOPosix
import Testing

/// The admin listener's Server-Sent Events streams: a client gets the latest event at once and every later one; a
/// client that stops reading is dropped instead of buffered for, and the others keep receiving; the stream's
/// client limit holds.
@Suite(.serialized)
struct AdminEventStreamTests {
    @Test func slowClientsAreDroppedAndTheOthersKeepReceiving() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let stream = EventStream(limits: .init(maximumClients: 3))
        let admin = AdminServer(port: 0, pages: [:], streams: ["/events": stream], group: group)
        let port = try await admin.start()
        stream.broadcast(#"{"n":0}"#)

        let reader = try StreamClient(port: port, path: "/events")
        let head = reader.read(until: #"data: {"n":0}"#)
        #expect(head.hasPrefix("HTTP/1.1 200 OK"), "\(head)")
        #expect(head.lowercased().contains("content-type: text/event-stream"))
        #expect(head.contains(#"data: {"n":0}"#), "the latest event at once")

        // A client that never reads (with a small receive buffer), then far more than any buffer holds, at a pace
        // the reading client keeps up with on its own thread.
        let stalled = try StreamClient(port: port, path: "/events", receiveBuffer: 4096)
        let deadline = Date().addingTimeInterval(5)
        while stream.clientCount < 2 && Date() < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(stream.clientCount == 2)
        async let reading = offPool { reader.read(until: #"data: {"n":"last"}"#, limit: 1 << 30) }
        let pad = String(repeating: "x", count: 32 * 1024)
        var sent = 0
        while stream.droppedCount == 0 && sent < 2000 {
            stream.broadcast(#"{"pad":"\#(pad)"}"#)
            sent += 1
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(stream.droppedCount == 1, "one client dropped after \(sent) events of 32 KB")
        let dropDeadline = Date().addingTimeInterval(5)
        while stream.clientCount > 1 && Date() < dropDeadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(stream.clientCount == 1)
        stream.broadcast(#"{"n":"last"}"#)
        let seen = try await reading
        #expect(seen.contains(#"data: {"n":"last"}"#), "the reading client got every event through the end")
        // The one dropped is the stalled client: its connection ends once it reads what was sent before.
        let rest = stalled.read(until: "never", limit: 1 << 30)
        #expect(!rest.contains(#"{"n":"last"}"#), "the stalled client was closed before the last event")

        // The limit: three clients at most; a fourth gets an empty stream.
        let second = try StreamClient(port: port, path: "/events")
        let third = try StreamClient(port: port, path: "/events")
        _ = second.read(until: "last")
        _ = third.read(until: "last")
        let fourth = try StreamClient(port: port, path: "/events")
        let refused = fourth.read(until: "0\r\n\r\n")
        #expect(stream.clientCount == 3)
        #expect(refused.hasSuffix("0\r\n\r\n") && !refused.contains("data:"), "\(refused)")
        await admin.stop()
        try await group.shutdownGracefully()
    }

    /// `waitForClient()`, what a feed that works only while watched sleeps on: it returns when a client connects
    /// (at once while one is connected), and when its task is cancelled with nobody connected.
    @Test func waitingForAClientEndsWhenOneConnectsOrTheTaskIsCancelled() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let stream = EventStream()
        let admin = AdminServer(port: 0, pages: [:], streams: ["/events": stream], group: group)
        let port = try await admin.start()

        let cancelled = Task { await stream.waitForClient() }
        try await Task.sleep(for: .milliseconds(50))
        cancelled.cancel()
        let started = ContinuousClock.now
        await cancelled.value
        #expect(ContinuousClock.now - started < .seconds(5), "cancellation ends the wait")

        let waiting = Task { () -> Int in
            await stream.waitForClient()
            return stream.clientCount
        }
        try await Task.sleep(for: .milliseconds(50))
        let client = try StreamClient(port: port, path: "/events")
        _ = client.read(until: ": albatross")
        #expect(await waiting.value == 1, "a client connected")
        // With a client connected, it returns at once.
        await stream.waitForClient()
        await admin.stop()
        try await group.shutdownGracefully()
    }
}
