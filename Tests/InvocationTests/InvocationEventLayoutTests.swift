import InvocationModel
import NIOCore
import Testing

/// An event is copied into the queue of every subscriber that wants it and read back out: its inline size is
/// what each of those copies moves, so the large payloads are boxed (``InvocationEvent/Detail``'s `indirect`
/// cases) and an event stays small whatever its kind.
struct InvocationEventLayoutTests {
    @Test func anEventIsSmallWhateverItsKind() {
        #expect(MemoryLayout<InvocationEvent>.size <= 96, "\(MemoryLayout<InvocationEvent>.size) bytes")
        // The payloads that are boxed are far larger than that: without the boxes every event would be as large.
        #expect(MemoryLayout<InvocationEvent.InvokeFinished>.size > 150)
        // A `responseWritten` keeps its access-log facts (some 290 bytes, nil unless access logs are on) in a box
        // of their own, so that its own box, built for every request, stays small.
        #expect(MemoryLayout<FrontEndRequest>.size > 200)
        #expect(
            MemoryLayout<InvocationEvent.ResponseWritten>.size <= 128,
            "\(MemoryLayout<InvocationEvent.ResponseWritten>.size) bytes")
    }

    @Test func boxedPayloadsReadBackAsTheyWereWritten() {
        var written = InvocationEvent.ResponseWritten(
            status: 502, bytes: 110, albErrorReason: "LambdaUnhandled", listener: "HTTP:8080",
            routing: .init(rule: "default", targetGroup: "tg", at: .uptimeNanoseconds(7)))
        #expect(written.request == nil)
        written.request = FrontEndRequest(
            scheme: "http", clientAddress: "127.0.0.1", clientPort: 5000, requestLine: "GET / HTTP/1.1",
            userAgent: nil, receivedBytes: 40, sentBytes: 0, traceID: nil, targetGroupARN: nil,
            matchedRulePriority: nil, actionsExecuted: ["forward"], requestCreationEpochMicroseconds: 0,
            receivedAt: .uptimeNanoseconds(3), connectionTraceID: "c")
        written.request?.sentBytes = 120
        var event = InvocationEvent(at: .uptimeNanoseconds(9), requestID: "r1", detail: .responseWritten(written))
        let copy = event
        event.detail = .runtimeNext(.init(environment: Self.stream))
        guard case .responseWritten(let read) = copy.detail else {
            Issue.record("\(copy.kind)")
            return
        }
        #expect(read.status == 502 && read.albErrorReason == "LambdaUnhandled" && read.listener == "HTTP:8080")
        #expect(read.routing?.targetGroup == "tg" && read.routing?.at == .uptimeNanoseconds(7))
        #expect(read.request?.requestLine == "GET / HTTP/1.1" && read.request?.sentBytes == 120)
        #expect(copy.kind == .responseWritten && event.kind == .runtimeNext)
    }

    static let stream = LogStreamName(
        functionName: "fn", version: "$LATEST", epochSeconds: 0, hex: String(repeating: "a", count: 32), id: 1)
}
