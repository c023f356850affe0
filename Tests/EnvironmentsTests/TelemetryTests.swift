import AlbatrossTestKit
import InvocationModel
import NIOCore
import NIOPosix
import Testing

@testable import Environments

/// The Telemetry API's pure parts: the subscription request with AWS's bounds, and the records' shapes.
struct TelemetryTests {
    static func parse(_ json: String) -> Result<TelemetrySubscriptionRequest, TelemetrySubscriptionRequest.Invalid> {
        Result { () throws(TelemetrySubscriptionRequest.Invalid) in
            try TelemetrySubscriptionRequest.parse(ByteBuffer(string: json))
        }
    }

    @Test func subscriptionsAreParsedWithTheirBufferingAndDestination() throws {
        let request = try Self.parse(
            #"{"schemaVersion":"2022-12-13","types":["platform","function"],"buffering":{"maxItems":500,"maxBytes":262144,"timeoutMs":25},"destination":{"protocol":"HTTP","URI":"http://sandbox.localdomain:4243/telemetry"}}"#
        ).get()
        #expect(request.types == ["platform", "function"])
        #expect(request.maxItems == 500 && request.maxBytes == 262_144 && request.timeoutMs == 25)
        #expect(request.port == 4243 && request.path == "/telemetry")
        let defaults = try Self.parse(#"{"types":["extension"],"destination":{"URI":"http://sandbox:80"}}"#).get()
        #expect(defaults.maxItems == 1_000 && defaults.timeoutMs == 1_000 && defaults.path == "/")
    }

    @Test func invalidSubscriptionsAreRefused() {
        let invalid = [
            #"{"types":[],"destination":{"URI":"http://sandbox.localdomain:1"}}"#,
            #"{"types":["logs"],"destination":{"URI":"http://sandbox.localdomain:1"}}"#,
            #"{"types":["platform"],"destination":{"URI":"http://example.com:1"}}"#,
            #"{"types":["platform"],"destination":{"URI":"http://sandbox.localdomain:99999"}}"#,
            #"{"types":["platform"],"destination":{"protocol":"TCP","URI":"http://sandbox.localdomain:1"}}"#,
            #"{"types":["platform"],"buffering":{"timeoutMs":10},"destination":{"URI":"http://sandbox.localdomain:1"}}"#,
            #"{"types":["platform"],"buffering":{"maxItems":20000},"destination":{"URI":"http://sandbox.localdomain:1"}}"#,
            #"not json"#,
        ]
        for body in invalid {
            if case .success = Self.parse(body) { Issue.record("accepted \(body)") }
        }
    }

    @Test func recordsHaveAWSShapes() {
        let stream = LogStreamName.make(functionName: "fn", version: "$LATEST", groupName: "/aws/lambda/fn")
        let finished = InvocationEvent.InvokeFinished(
            environment: stream, version: "$LATEST", memorySizeMB: 128, initDurationMs: 12.5, durationMs: 3.25,
            billedDurationMs: 16, overheadMs: 0, status: nil, errorType: nil, errorMessage: nil, timeoutSeconds: 3,
            pid: nil, receivedAt: .now(), deliveredAt: nil, memoryPeakMB: 40)
        let records = TelemetryHub.records(
            for: InvocationEvent(requestID: "r-1", detail: .invokeFinished(finished)), epochMs: 1_700_000_000_123)
        #expect(records.map(\.type) == ["platform.runtimeDone", "platform.report"])
        #expect(
            records[1].json
                == #"{"time":"2023-11-14T22:13:20.123Z","type":"platform.report","record":{"requestId":"r-1","status":"success","metrics":{"durationMs":3.250,"billedDurationMs":16,"memorySizeMB":128,"maxMemoryUsedMB":40,"initDurationMs":12.500}}}"#
        )
        let output = TelemetryHub.records(
            for: InvocationEvent(
                requestID: "", detail: .output(.init(environment: stream, line: #"say "hi""#, fromExtension: true))),
            epochMs: 0)
        #expect(output.map(\.category) == ["extension"])
        #expect(output[0].record == #""say \"hi\"""#)
    }
}

/// A subscription whose listener does not answer stays bounded: records past the bound are dropped and counted.
struct TelemetryBoundTests {
    /// Accepts connections and never answers.
    final class Silent: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
    }

    @Test func aStalledListenerBoundsTheQueue() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let listener = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Silent()) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(listener.localAddress?.port)
        var request = TelemetrySubscriptionRequest(types: ["function"], port: port, path: "/")
        request.maxItems = 25
        let subscription = TelemetrySubscription(request: request, loop: group.next())
        let extra = 500
        for index in 0..<(TelemetryHub.maximumQueuedRecords + 25 + extra) {
            subscription.add(TelemetryRecord(epochMs: 0, type: "function", record: #""line \#(index)""#))
        }
        // The first batch is in flight (never answered); the rest waits, at most the bound.
        let settled = await eventually(seconds: 10) { subscription.counts.inFlight }
        #expect(settled)
        let counts = subscription.counts
        #expect(counts.queued <= TelemetryHub.maximumQueuedRecords)
        #expect(counts.queued + counts.dropped + 25 == TelemetryHub.maximumQueuedRecords + 25 + extra)
        #expect(counts.dropped >= extra)
        subscription.add(TelemetryRecord(epochMs: 0, type: "platform.start", record: "{}"))
        #expect(subscription.counts.queued == counts.queued, "types it did not ask for are not taken")
        try await listener.close()
        try await group.shutdownGracefully()
    }
}
