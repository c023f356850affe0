import ALBEvents
import Foundation
import Testing

@testable import Tracing

/// OTLP/HTTP trace exports in both encodings, decoded into spans and turned into X-Ray documents. The protobuf
/// bytes are written here by hand from opentelemetry-proto's field numbers, so the test does not trust the
/// decoder's own reading of the schema.
struct OTLPTraceDecoderTests {
    // MARK: a protobuf writer for the test

    static func varint(_ value: UInt64) -> [UInt8] {
        var value = value
        var out: [UInt8] = []
        repeat {
            var byte = UInt8(value & 0x7F)
            value >>= 7
            if value != 0 { byte |= 0x80 }
            out.append(byte)
        } while value != 0
        return out
    }

    static func field(_ number: Int, _ payload: [UInt8]) -> [UInt8] {
        varint(UInt64(number) << 3 | 2) + varint(UInt64(payload.count)) + payload
    }

    static func field(_ number: Int, string: String) -> [UInt8] { field(number, Array(string.utf8)) }

    static func field(_ number: Int, varint value: UInt64) -> [UInt8] { varint(UInt64(number) << 3) + varint(value) }

    static func field(_ number: Int, fixed64 value: UInt64) -> [UInt8] {
        varint(UInt64(number) << 3 | 1) + (0..<8).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) }
    }

    static func keyValue(_ key: String, _ anyValue: [UInt8]) -> [UInt8] {
        field(1, string: key) + field(2, anyValue)
    }

    static let traceID: [UInt8] = [0x65, 0x53, 0xF1, 0x00] + Array(repeating: 0xAB, count: 12)
    static let rootID: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]
    static let childID: [UInt8] = [9, 10, 11, 12, 13, 14, 15, 16]

    static func span(
        id: [UInt8], parent: [UInt8] = [], name: String, kind: UInt64, start: UInt64, end: UInt64,
        attributes: [[UInt8]] = [], status: [UInt8]? = nil, traceID: [UInt8] = traceID
    ) -> [UInt8] {
        var bytes = field(1, traceID) + field(2, id)
        if !parent.isEmpty { bytes += field(4, parent) }
        bytes += field(5, string: name) + field(6, varint: kind) + field(7, fixed64: start) + field(8, fixed64: end)
        for attribute in attributes { bytes += field(9, attribute) }
        if let status { bytes += field(15, status) }
        // An unknown field (number 99) that a decoder must skip.
        bytes += field(99, varint: 7)
        return bytes
    }

    static func request(spans: [[UInt8]]) -> [UInt8] {
        // ResourceSpans.resource (1) → Resource.attributes (1) → KeyValue.
        let resource = field(1, field(1, keyValue("service.name", field(1, string: "orders"))))
        var scopeSpans = field(1, field(1, string: "my.library"))
        for span in spans { scopeSpans += field(2, span) }
        return field(1, resource + field(2, scopeSpans))
    }

    static let protobuf = request(spans: [
        span(
            id: rootID, name: "GET /orders", kind: 2, start: 1_700_000_000_000_000_000, end: 1_700_000_000_250_000_000),
        span(
            id: childID, parent: rootID, name: "SELECT orders", kind: 3, start: 1_700_000_000_100_000_000,
            end: 1_700_000_000_123_456_789,
            attributes: [
                keyValue("db.system", field(1, string: "postgresql")),
                keyValue("db.rows", field(3, varint: 42)),
                keyValue("retry", field(2, varint: 1)),
                keyValue("tags", field(5, field(1, field(1, string: "a")) + field(1, field(3, varint: 2)))),
                keyValue("where", field(6, field(1, keyValue("id", field(1, string: "7"))))),
            ],
            status: field(2, string: "deadlock") + field(3, varint: 2)),
    ])

    static let json = """
        {"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"orders"}}]},
        "scopeSpans":[{"scope":{"name":"my.library"},"spans":[
        {"traceId":"6553f100abababababababababababab","spanId":"0102030405060708","parentSpanId":"","name":"GET /orders",
         "kind":2,"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000250000000"},
        {"traceId":"6553F100ABABABABABABABABABABABAB","spanId":"090a0b0c0d0e0f10","parentSpanId":"0102030405060708",
         "name":"SELECT orders","kind":3,"startTimeUnixNano":1700000000100000000,"endTimeUnixNano":"1700000000123456789",
         "attributes":[{"key":"db.system","value":{"stringValue":"postgresql"}},{"key":"db.rows","value":{"intValue":"42"}},
           {"key":"retry","value":{"boolValue":true}},
           {"key":"tags","value":{"arrayValue":{"values":[{"stringValue":"a"},{"intValue":2}]}}},
           {"key":"where","value":{"kvlistValue":{"values":[{"key":"id","value":{"stringValue":"7"}}]}}}],
         "status":{"code":2,"message":"deadlock"}}]}]}]}
        """

    static let expected = [
        OTLPSpan(
            traceID: traceID, spanID: rootID, name: "GET /orders", kind: .server, startNanos: 1_700_000_000_000_000_000,
            endNanos: 1_700_000_000_250_000_000, serviceName: "orders"),
        OTLPSpan(
            traceID: traceID, spanID: childID, parentSpanID: rootID, name: "SELECT orders", kind: .client,
            startNanos: 1_700_000_000_100_000_000, endNanos: 1_700_000_000_123_456_789,
            attributes: [
                ("db.system", "postgresql"), ("db.rows", "42"), ("retry", "true"), ("tags", #"["a",2]"#),
                ("where", #"{"id":"7"}"#),
            ],
            isError: true, statusMessage: "deadlock", serviceName: "orders"),
    ]

    @Test func protobufAndJSONDecodeToTheSameSpans() throws {
        #expect(try OTLPTraceDecoder.decodeProtobuf(Self.protobuf) == Self.expected)
        #expect(try OTLPTraceDecoder.decodeJSON(Array(Self.json.utf8)) == Self.expected)
        #expect(try OTLPTraceDecoder.decodeProtobuf([]) == [], "an empty export is valid")
        #expect(try OTLPTraceDecoder.decodeJSON(Array("{}".utf8)) == [])
    }

    @Test func spansBecomeXRayDocumentsOfTheSameTrace() throws {
        let documents = try Self.expected.map { try $0.segmentDocument().get() }
        #expect(
            documents.map(\.traceID) == ["1-6553f100-abababababababababababab", "1-6553f100-abababababababababababab"])
        guard case .object(let root) = try JSONParser.parse(documents[0].json),
            case .object(let child) = try JSONParser.parse(documents[1].json)
        else { Issue.record("not objects"); return }
        #expect(root["name"] == .string("orders"), "a root span is a segment named after its service")
        #expect(root["type"] == nil && root["parent_id"] == nil)
        #expect(child["type"] == .string("subsegment"))
        #expect(child["parent_id"] == .string("0102030405060708"))
        #expect(child["id"] == .string("090a0b0c0d0e0f10"))
        #expect(child["name"] == .string("SELECT orders"))
        #expect(child["namespace"] == .string("remote"), "a client span calls something remote")
        #expect(child["fault"] == .bool(true))
        #expect(documents[1].json.contains(#""start_time":1700000000.100000000,"end_time":1700000000.123456789"#))
        #expect(documents[1].json.contains(#""db.rows":"42""#))
        #expect(documents[1].json.contains(#""status_message":"deadlock""#))
        // X-Ray names are 1–200 characters: an unnamed span still makes a valid document.
        var unnamed = Self.expected[1]
        unnamed.name = ""
        #expect(try unnamed.segmentDocument().get().json.hasPrefix(#"{"name":"unnamed","#))
        unnamed.name = String(repeating: "n", count: 300)
        #expect(try unnamed.segmentDocument().get().json.contains(String(repeating: "n", count: 200) + "\""))
    }

    @Test(
        arguments: [
            ([0x0A, 0x05, 0x01], "runs past the end"),
            ([0x0B], "wire type 3"),
            ([0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], "longer than 10 bytes"),
            ([0x00, 0x01], "field number is 0"),
        ] as [([UInt8], String)])
    func malformedProtobufIsRefused(bytes: [UInt8], problem: String) {
        #expect(throws: OTLPTraceDecoder.Failure.self) { try OTLPTraceDecoder.decodeProtobuf(bytes) }
        do {
            _ = try OTLPTraceDecoder.decodeProtobuf(bytes)
        } catch {
            #expect(error.description.contains(problem), "\(error)")
        }
    }

    @Test func badIdsAndTooManySpansAreRefused() throws {
        let shortTrace = Self.request(spans: [
            Self.span(id: Self.rootID, name: "x", kind: 1, start: 1, end: 2, traceID: Array(Self.traceID.prefix(15)))
        ])
        let zeroSpan = Self.request(spans: [
            Self.span(id: Array(repeating: 0, count: 8), name: "x", kind: 1, start: 1, end: 2)
        ])
        for bytes in [shortTrace, zeroSpan] {
            #expect(throws: OTLPTraceDecoder.Failure.self) { try OTLPTraceDecoder.decodeProtobuf(bytes) }
        }
        let one = Self.span(id: Self.rootID, name: "x", kind: 1, start: 1, end: 2)
        let many = Self.request(spans: Array(repeating: one, count: OTLPTraceDecoder.maximumSpans + 1))
        #expect(throws: OTLPTraceDecoder.Failure.self) { try OTLPTraceDecoder.decodeProtobuf(many) }
        #expect(try OTLPTraceDecoder.decodeProtobuf(Self.request(spans: [one, one])).count == 2)
        for json in [
            #"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz53f100abababababababababababab","spanId":"0102030405060708"}]}]}]}"#,
            #"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"6553f100abababababababababababab","spanId":"01020304"}]}]}]}"#,
            #"{"resourceSpans":{}}"#, "[1]", "not json",
        ] {
            #expect(throws: OTLPTraceDecoder.Failure.self) { try OTLPTraceDecoder.decodeJSON(Array(json.utf8)) }
        }
    }

    @Test func longValuesAreCutAndDeepNestingIsRefused() throws {
        let long = String(repeating: "v", count: OTLPTraceDecoder.maximumValueLength + 10)
        let spans = try OTLPTraceDecoder.decodeProtobuf(
            Self.request(spans: [
                Self.span(
                    id: Self.rootID, name: "x", kind: 1, start: 1, end: 2,
                    attributes: [Self.keyValue("long", Self.field(1, string: long))])
            ]))
        #expect(spans[0].attributes[0].value.hasSuffix("…"))
        #expect(spans[0].attributes[0].value.utf8.count < long.utf8.count)
        var nested = Self.field(1, string: "deep")
        for _ in 0...OTLPTraceDecoder.maximumDepth { nested = Self.field(5, Self.field(1, nested)) }
        let deep = Self.request(spans: [
            Self.span(id: Self.rootID, name: "x", kind: 1, start: 1, end: 2, attributes: [Self.keyValue("d", nested)])
        ])
        #expect(throws: OTLPTraceDecoder.Failure.self) { try OTLPTraceDecoder.decodeProtobuf(deep) }
    }
}
