import AdminServer
import Bench
import Foundation
import InvocationModel
import NIOCore
import Testing

/// The lines of `/invocations/events`: the server's ``InvocationFeedJoiner`` writes one line per invocation from its
/// events (in whichever order they come), and bench's ``FeedLine`` reads them back field by field; a line that is
/// not one of them (truncated, malformed, another format) is refused, never half read.
struct InvocationFeedLineTests {
    static let environment = LogStreamName(
        functionName: "fn", version: "$LATEST", epochSeconds: 0, hex: String(repeating: "a", count: 32), id: 7)
    static let id = "0f8e7a6b-5c4d-4e3f-8a1b-2c3d4e5f6a7b"
    static let nonce: UInt32 = 0xC0FF_EE01
    static let root = String(decoding: BenchTraceRoot.bytes(epoch: 0x6000_0000, nonce: nonce, index: 41), as: UTF8.self)

    static func event(_ at: UInt64, _ detail: InvocationEvent.Detail, id: String = id) -> InvocationEvent {
        InvocationEvent(at: .uptimeNanoseconds(at), requestID: id, detail: detail)
    }

    static func placed(
        _ placement: InvocationEvent.Placed.Placement, at: UInt64 = 100, id: String = id
    )
        -> InvocationEvent
    {
        event(
            at, .placed(.init(function: "fn", version: "$LATEST", placement: placement, environment: environment)),
            id: id)
    }

    static func started(at: UInt64 = 200, id: String = id) -> InvocationEvent {
        event(
            at,
            .invokeStarted(.init(environment: environment, version: "$LATEST", receivedAt: .uptimeNanoseconds(90))),
            id: id)
    }

    static func finished(at: UInt64 = 300, errorType: String? = nil, id: String = id) -> InvocationEvent {
        event(
            at,
            .invokeFinished(
                .init(
                    environment: environment, version: "$LATEST", memorySizeMB: 128, initDurationMs: nil,
                    durationMs: 0.1, billedDurationMs: 1, overheadMs: 0, status: nil, errorType: errorType,
                    errorMessage: nil, timeoutSeconds: 3, pid: nil, receivedAt: .uptimeNanoseconds(90),
                    deliveredAt: .uptimeNanoseconds(200))), id: id)
    }

    static func written(
        at: UInt64 = 310, status: Int = 200, reason: String? = nil, invoked: Bool = true,
        trace: String? = "Self=1-5759e988-bd862e3fe1be46a994272793;Root=\(root);Sampled=1", id: String = id
    ) -> InvocationEvent {
        event(
            at,
            .responseWritten(
                .init(
                    status: status, bytes: 2, albErrorReason: reason, listener: "HTTP:8080", invoked: invoked,
                    traceID: trace, receivedAt: .uptimeNanoseconds(80))), id: id)
    }

    /// The `data:` lines of `text`, without the prefix.
    static func lines(_ bytes: [UInt8]) -> [String] {
        String(decoding: bytes, as: UTF8.self).split(separator: "\n").map { line in
            #expect(line.hasPrefix("data: "), "\(line)")
            return String(line.dropFirst(6))
        }
    }

    static func parse(_ line: String) -> FeedLine? {
        var line = line
        return line.withUTF8 { FeedLine.parse(UnsafeRawBufferPointer($0), nonce: nonce) }
    }

    @Test func anInvocationThroughAListenerIsOneLineWrittenWhenItsLastEventCame() throws {
        var joiner = InvocationFeedJoiner()
        var text: [UInt8] = []
        // The listener's answer before the environment's invokeFinished: they come from two event loops.
        for event in [Self.placed(.coldStart), Self.started(), Self.written()] { joiner.add(event, to: &text) }
        #expect(text.isEmpty && joiner.pendingCount == 1)
        joiner.add(Self.finished(), to: &text)
        #expect(joiner.pendingCount == 0)
        let lines = Self.lines(text)
        #expect(lines == ["i \(Self.id) \(Self.root) 80 c 100 7 90 200 300 200 - -"])
        guard case .invocation(let invocation)? = Self.parse(lines[0]) else {
            Issue.record("\(lines)")
            return
        }
        var expected = FeedInvocation(requestID: RequestKey(Self.id))
        expected.hasRoot = true
        expected.rootIndex = 41
        expected.frontReceived = 80
        expected.placement = "coldStart"
        expected.placed = 100
        expected.environment = 7
        expected.received = 90
        expected.delivered = 200
        expected.posted = 300
        expected.status = 200
        #expect(invocation == expected)
        #expect(invocation.requestID == .uuid(0x0f8e_7a6b_5c4d_4e3f, 0x8a1b_2c3d_4e5f_6a7b))
        // Another client's root is reported as a root, but not as one of this client's.
        var line = lines[0]
        let other = line.withUTF8 { FeedLine.parse(UnsafeRawBufferPointer($0), nonce: Self.nonce &+ 1) }
        guard case .invocation(let other)? = other else {
            Issue.record("\(lines)")
            return
        }
        #expect(other.hasRoot && other.rootIndex == nil)
    }

    @Test func invocationsWithoutAListenerOrAnInvokeAndEnvironments() throws {
        var joiner = InvocationFeedJoiner()
        var text: [UInt8] = []
        // Through the admin listener's POST /invoke: no responseWritten, written with the next heartbeat.
        let admin = "00000000-0000-4000-8000-000000000001"
        for event in [Self.placed(.warm, id: admin), Self.started(id: admin), Self.finished(id: admin)] {
            joiner.add(event, to: &text)
        }
        // Under way: only placed and invokeStarted so far; stays across heartbeats.
        let running = "00000000-0000-4000-8000-000000000002"
        for event in [Self.placed(.queued, id: running), Self.started(id: running)] { joiner.add(event, to: &text) }
        // A throttle: the ALB's answer is its end (no invoke ran), and a fixed response never had one.
        let throttled = "00000000-0000-4000-8000-000000000003"
        joiner.add(
            Self.placed(.throttled(reason: "ReservedFunctionConcurrentInvocationLimitExceeded"), id: throttled),
            to: &text)
        joiner.add(Self.written(status: 502, reason: "LambdaThrottling", trace: nil, id: throttled), to: &text)
        joiner.add(Self.written(status: 404, invoked: false, trace: nil, id: "fixed"), to: &text)
        // INIT has lines of its own, at once.
        joiner.add(
            Self.event(
                50,
                .initStarted(
                    .init(
                        environment: Self.environment, version: "$LATEST", runtimeVersion: "x", pid: 1,
                        createdAt: .uptimeNanoseconds(40))), id: ""), to: &text)
        joiner.add(
            Self.event(60, .initFinished(.init(environment: Self.environment, durationMs: 1, result: .ready)), id: ""),
            to: &text)
        #expect(
            Self.lines(text) == [
                "i \(throttled) - 80 t 100 - - - - 502 LambdaThrottling -", "i fixed - 80 - - - - - - 404 - -",
                "s 7 50 fn", "f 7 60 r",
            ])
        text = []
        joiner.flushEnded(now: 1_000, to: &text)
        #expect(Self.lines(text) == ["i \(admin) - - w 100 7 90 200 300 - - -"])
        #expect(joiner.pendingCount == 1)
        guard case .invocation(let line)? = Self.parse(Self.lines(text)[0]) else { return }
        #expect(!line.hasRoot && line.rootIndex == nil && line.placement == "warm" && line.status == nil)
        #expect(Self.parse("s 7 50 fn") == .initStarted(environment: 7, at: 50))
        #expect(Self.parse("f 7 60 f") == .initFinished(environment: 7, at: 60, failed: true))
        #expect(Self.parse("l 123 4") == .live(at: 123, dropped: 4))
    }

    @Test func textFieldsKeepTheLineWhole() throws {
        var joiner = InvocationFeedJoiner()
        var text: [UInt8] = []
        let errorType = "My Error\n50%\u{7F}é"
        joiner.add(Self.finished(errorType: errorType), to: &text)
        joiner.add(Self.written(status: 502, reason: "-"), to: &text)
        let lines = Self.lines(text)
        #expect(lines == ["i \(Self.id) \(Self.root) 80 - - 7 90 - 300 502 %2D My%20Error%0A50%25%7Fé"])
        guard case .invocation(let line)? = Self.parse(lines[0]) else {
            Issue.record("\(lines)")
            return
        }
        #expect(line.errorType == errorType && line.albErrorReason == "-")
    }

    @Test func aLineThatIsNotWholeIsRefused() {
        let good = "i \(Self.id) \(Self.root) 80 c 100 7 90 200 300 200 - -"
        #expect(Self.parse(good) != nil)
        // Every truncation of a good line, at every byte, is refused (its last field is one byte).
        for length in 0..<good.utf8.count {
            let cut = String(decoding: Array(good.utf8.prefix(length)), as: UTF8.self)
            #expect(Self.parse(cut) == nil, "\(cut)")
        }
        for line in [
            "", "i", "i ", "x 1 2", "l 1", "l 1 2 3", "l 1 x", "l -1 0", "s 7 50", "f 7 60 q", "f 7 60 rr",
            good + " ", good + " extra", good.replacingOccurrences(of: " 80 ", with: " 8x0 "),
            good.replacingOccurrences(of: " c ", with: " cold "), good.replacingOccurrences(of: " 300 ", with: "  "),
            "l 1234567890123456789 0",
            #"{"k":"live","at":123,"dropped":0}"#,
            #"{"k":"placed","id":"a","at":1,"function":"fn","placement":"warm"}"#,
        ] {
            #expect(Self.parse(line) == nil, "\(line)")
        }
    }

    @Test func traceRootsCarryTheirIndex() {
        let root = BenchTraceRoot.bytes(epoch: 0x1234_5678, nonce: 0xDEAD_BEEF, index: 0xABC)
        #expect(String(decoding: root, as: UTF8.self) == "1-12345678-deadbeef0000000000000abc")
        root.withUnsafeBytes { bytes in
            #expect(BenchTraceRoot.index(of: bytes, nonce: 0xDEAD_BEEF) == 0xABC)
            #expect(BenchTraceRoot.index(of: bytes, nonce: 0xDEAD_BEEE) == nil)
            #expect(
                BenchTraceRoot.index(of: UnsafeRawBufferPointer(rebasing: bytes[0..<34]), nonce: 0xDEAD_BEEF) == nil)
        }
        #expect(RequestKey("not-a-uuid") == .text("not-a-uuid"))
        #expect(RequestKey("0F8E7A6B-5C4D-4E3F-8A1B-2C3D4E5F6A7B") == RequestKey(Self.id))
    }
}
