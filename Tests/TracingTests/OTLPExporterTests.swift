import Foundation
import Testing

@testable import Tracing

/// The exporter's conversion and its bounds without a collector (the collector side, with the real
/// `opentelemetry-proto` decoding, is in IntegrationTests' OTLPExportTests).
struct OTLPExporterTests {
    static func document(_ json: String) throws -> SegmentDocument {
        try SegmentDocument.validate(Array(json.utf8)).get()
    }

    static let segment = """
        {"name":"orders","id":"70de5b6f19ff9a0a","trace_id":"1-6553f100-abababababababababababab",\
        "start_time":1700000000.5,"end_time":1700000000.123456789,"origin":"AWS::Lambda::Function","fault":true,\
        "cause":{"exceptions":[{"message":"boom","type":"Runtime.ExitError"}]},\
        "subsegments":[{"name":"Invocation","id":"0102030405060708","start_time":1700000000.25,"end_time":1700000000.75}]}
        """

    @Test func segmentsAndNestedSubsegmentsBecomeSpans() throws {
        let (body, count) = OTLPSpanEncoder.request([try Self.document(Self.segment)])
        #expect(count == 2)
        let spans = try OTLPTraceDecoder.decodeProtobuf(body)
        #expect(spans.map(\.name) == ["orders", "Invocation"])
        #expect(spans.map(\.serviceName) == ["orders", "orders"])
        #expect(OTLPSpan.hex(spans[0].traceID) == "6553f100abababababababababababab")
        #expect(OTLPSpan.hex(spans[0].spanID) == "70de5b6f19ff9a0a" && spans[0].parentSpanID.isEmpty)
        #expect(OTLPSpan.hex(spans[1].parentSpanID) == "70de5b6f19ff9a0a")
        #expect(spans[0].kind == .server && spans[1].kind == .internal)
        #expect(spans[0].startNanos == 1_700_000_000_500_000_000)
        // An end before the start (a clock step) is clamped to the start.
        #expect(spans[0].endNanos == spans[0].startNanos)
        #expect(spans[1].startNanos == 1_700_000_000_250_000_000 && spans[1].endNanos == 1_700_000_000_750_000_000)
        #expect(spans[0].isError && spans[0].statusMessage == "boom" && !spans[1].isError)
        #expect(spans[0].attributes.contains { $0.key == "aws.xray.origin" && $0.value == "AWS::Lambda::Function" })
    }

    @Test func anOTLPSpanGoesBackWithItsOwnNameKindAndAttributes() throws {
        let span = OTLPSpan(
            traceID: [0x65, 0x53, 0xF1, 0x00] + Array(repeating: 0xAB, count: 12), spanID: [1, 2, 3, 4, 5, 6, 7, 8],
            parentSpanID: [9, 9, 9, 9, 9, 9, 9, 9], name: "SELECT", kind: .client,
            startNanos: 1_700_000_000_000_000_001,
            endNanos: 1_700_000_000_000_000_999, attributes: [("db.system", "postgresql")], isError: true,
            statusMessage: "deadlock", serviceName: "orders")
        let document = try span.segmentDocument().get()
        let (body, count) = OTLPSpanEncoder.request([document])
        #expect(count == 1)
        let back = try OTLPTraceDecoder.decodeProtobuf(body)
        #expect(back == [span])
    }

    @Test func aFullQueueAndAnUnreachableCollectorAreCountedAsDrops() throws {
        // A port nothing listens on: bound, then closed.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length)
                return getsockname(fd, pointer, &length)
            }
        }
        let port = Int(UInt16(bigEndian: address.sin_port))
        close(fd)
        let exporter = OTLPExporter(
            settings: OTLPExporter.Settings(
                host: "127.0.0.1", port: port, queueCapacity: 2, attempts: 3, initialBackoff: 0.01, timeout: 1))
        let document = try Self.document(Self.segment)
        exporter.enqueue(Array(repeating: document, count: 5))
        #expect(exporter.counts.droppedQueueFull == 6, "3 documents of 2 spans each")
        #expect(exporter.drain(seconds: 10))
        let counts = exporter.counts
        #expect(counts.droppedFailed == 4 && counts.exported == 0 && counts.retries == 2, "\(counts)")
        exporter.shutdown()
    }
}
