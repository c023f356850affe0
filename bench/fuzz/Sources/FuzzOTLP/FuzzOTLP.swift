// libFuzzer target: what a function's OpenTelemetry exporter sends (an OTLP/HTTP trace export), through
// `OTLPTraceDecoder` as protobuf and as OTLP/JSON, and every span it accepts through the mapping to an X-Ray
// document.
//
// Checks beyond "does not crash": an accepted span has a 16-byte trace id and an 8-byte span id, neither all zero,
// and a parent id of 8 bytes or none; the decoder's bounds hold (span and attribute counts); and every accepted
// span becomes a document that `SegmentDocument.validate` accepts, in the trace its ids name.
import Tracing

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOTLP(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: data, count: size))
    // Each decoder is called directly: an array of the typed-throwing functions crashes Swift 6.3.1's SILGen.
    for spans in [try? OTLPTraceDecoder.decodeProtobuf(bytes), try? OTLPTraceDecoder.decodeJSON(bytes)] {
        guard let spans else { continue }
        check(spans.count <= OTLPTraceDecoder.maximumSpans, "more spans than the bound")
        for span in spans {
            check(span.traceID.count == 16 && span.traceID.contains { $0 != 0 }, "trace id")
            check(span.spanID.count == 8 && span.spanID.contains { $0 != 0 }, "span id")
            check(span.parentSpanID.isEmpty || span.parentSpanID.count == 8, "parent id")
            check(span.attributes.count <= OTLPTraceDecoder.maximumAttributes, "more attributes than the bound")
            switch span.segmentDocument() {
            case .success(let document):
                check(document.traceID == span.xrayTraceID, "the document's trace is not the span's")
            case .failure(let problem):
                fatalError("an accepted span made an invalid X-Ray document: \(problem)")
            }
        }
    }
    return 0
}

/// `precondition` with its message kept in release builds.
private func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError(message()) }
}
