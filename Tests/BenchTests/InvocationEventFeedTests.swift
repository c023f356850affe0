import AdminServer
import AlbatrossTestKit
import Foundation
import InvocationModel
import NIOCore
import NIOPosix
import Testing

/// The admin listener's `/invocations/events` (``InvocationEventFeed``), on a real admin listener and a real
/// event bus: subscribed only while someone listens, one line per invocation with its timestamps, heartbeats that
/// follow the events before them, and a client that stops reading dropped without slowing the emitters or the
/// listener's other answers.
@Suite(.serialized)
struct InvocationEventFeedTests {
    static func placed(_ id: String, at: NIODeadline = .now()) -> InvocationEvent {
        InvocationEvent(
            at: at, requestID: id,
            detail: .placed(.init(function: "fn", version: "$LATEST", placement: .coldStart, environment: nil)))
    }

    /// An answer of the listener that needed no invoke (a fixed response): a line of its own at once.
    static func answered(_ id: String, at: NIODeadline = .now()) -> InvocationEvent {
        InvocationEvent(
            at: at, requestID: id,
            detail: .responseWritten(
                .init(status: 200, bytes: 0, albErrorReason: nil, listener: "HTTP:80", invoked: false)))
    }

    @Test func subscribedWhileWatchedWithALinePerInvocationAndHeartbeatsAfterThem() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        let bus = InvocationEventBus()
        let feed = InvocationEventFeed(bus: bus, threadPool: pool)
        let admin = AdminServer(port: 0, pages: [:], streams: ["/invocations/events": feed.stream], group: group)
        let port = try await admin.start()
        let running = Task { await feed.run(interval: .milliseconds(20)) }

        // Nobody listens: no subscription, so emitters build nothing for the feed.
        try await Task.sleep(for: .milliseconds(100))
        #expect(!feed.isSubscribed && !bus.wants(.placed))

        let client = try StreamClient(port: port, path: "/invocations/events")
        #expect(await eventually(seconds: 5) { feed.isSubscribed })
        // The request details (the access log's facts) are not asked for: `responseWritten` carries what it needs.
        #expect(bus.wants(.placed) && bus.wants(.responseWritten) && !bus.wants(.requestDetails))
        let at = NIODeadline.now()
        // Placed, never ended: under way, no line. Placed then ended without an invoke: one line, escaped.
        bus.emit(Self.placed("running", at: at))
        bus.emit(Self.placed("a b", at: at))
        bus.emit(Self.answered("a b", at: at + .microseconds(1)))
        var text = try await offPool { client.read(until: "data: l ") + client.read(until: "data: l ") }
        #expect(text.hasPrefix("HTTP/1.1 200 OK") && text.lowercased().contains("text/event-stream"), "\(text)")
        let line = "data: i a%20b - - c \(at.uptimeNanoseconds) - - - - 200 - -\n"
        #expect(text.contains(line), "\(text)")
        #expect(!text.contains("running"), "\(text)")
        // Every event emitted before a heartbeat's time was sent before it. The first heartbeat after the line may
        // have been stamped before the event was emitted (its time is taken before the queue is flushed); the one
        // after that was stamped after the line was sent, so it is later than the event.
        let lineStart = try #require(text.range(of: line)).lowerBound
        let eventOffset = text.utf8.distance(from: text.startIndex, to: lineStart)
        func later() -> [UInt64] {
            text[text.utf8.index(text.startIndex, offsetBy: eventOffset)...].matches(of: #/data: l (\d+) 0\n/#)
                .compactMap { UInt64($0.1) }
        }
        for _ in 0..<20 where later().count < 2 {
            text += try await offPool { client.read(until: "data: l ") }
        }
        let heartbeats = later()
        #expect(heartbeats.count >= 2 && heartbeats[1] >= at.uptimeNanoseconds, "\(text)")

        // The last client left: unsubscribed a second later.
        client.hangUp()
        #expect(await eventually(seconds: 5) { !feed.isSubscribed })
        #expect(!bus.wants(.placed))
        running.cancel()
        await running.value
        await admin.stop()
        try await pool.shutdownGracefully()
        try await group.shutdownGracefully()
    }

    @Test func aClientThatStopsReadingIsDroppedAndNothingWaitsForIt() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        let bus = InvocationEventBus()
        let feed = InvocationEventFeed(bus: bus, threadPool: pool)
        let admin = AdminServer(
            port: 0, pages: ["/status": .init(contentType: "text/plain") { "up\n" }],
            streams: ["/invocations/events": feed.stream], group: group)
        let port = try await admin.start()
        let running = Task { await feed.run(interval: .milliseconds(20)) }

        let stalled = try StreamClient(port: port, path: "/invocations/events", receiveBuffer: 4096)
        #expect(await eventually(seconds: 5) { feed.isSubscribed })
        // Far more than the socket buffers and the channel's high-water mark hold, emitted as fast as the bus takes
        // them: emitting never waits for the feed.
        let id = String(repeating: "x", count: 1000)
        let started = NIODeadline.now()
        var emitted = 0
        var slowest: TimeAmount = .zero
        while feed.stream.droppedCount == 0 && emitted < 100_000 {
            let before = NIODeadline.now()
            for _ in 0..<200 { bus.emit(Self.answered(id)) }
            slowest = max(slowest, NIODeadline.now() - before)
            emitted += 200
            try await Task.sleep(for: .milliseconds(2))
            if NIODeadline.now() - started > .seconds(30) { break }
        }
        // 200 emits never took long: none waited for the client (a blocked write would take until the drop).
        #expect(slowest < .milliseconds(500), "\(slowest)")
        // The feed's thread may still be formatting what was queued (a loaded machine): the drop comes when it
        // next writes to the stalled client.
        #expect(
            await eventually(seconds: 60) { feed.stream.droppedCount == 1 },
            "dropped after \(emitted) events of 1 KB")
        #expect(await eventually(seconds: 5) { feed.stream.clientCount == 0 })
        // The listener answers as before.
        let status = try StreamClient(port: port, path: "/status")
        let answer = try await offPool { status.read(until: "up\n") }
        #expect(answer.hasPrefix("HTTP/1.1 200") && answer.hasSuffix("up\n"), "\(answer)")
        stalled.hangUp()
        running.cancel()
        await running.value
        await admin.stop()
        try await pool.shutdownGracefully()
        try await group.shutdownGracefully()
    }
}
