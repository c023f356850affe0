import ALBEvents
import LambdaModel

/// One span of an OTLP trace export (`opentelemetry.proto.trace.v1.Span`), with what the store keeps of it.
public struct OTLPSpan: Sendable, Hashable {
    public enum Kind: Int, Sendable, Hashable {
        case unspecified = 0, `internal`, server, client, producer, consumer

        var name: String {
            switch self {
            case .unspecified: return "UNSPECIFIED"
            case .internal: return "INTERNAL"
            case .server: return "SERVER"
            case .client: return "CLIENT"
            case .producer: return "PRODUCER"
            case .consumer: return "CONSUMER"
            }
        }
    }

    /// 16 bytes.
    public var traceID: [UInt8]
    /// 8 bytes.
    public var spanID: [UInt8]
    /// 8 bytes, or empty for a root span.
    public var parentSpanID: [UInt8]
    public var name: String
    public var kind: Kind
    public var startNanos: UInt64
    public var endNanos: UInt64
    /// Attribute values as text (arrays and maps as JSON), in the order sent.
    public var attributes: [(key: String, value: String)]
    /// `STATUS_CODE_ERROR`.
    public var isError: Bool
    public var statusMessage: String
    /// The resource's `service.name`, when it has one.
    public var serviceName: String?

    public init(
        traceID: [UInt8], spanID: [UInt8], parentSpanID: [UInt8] = [], name: String, kind: Kind = .internal,
        startNanos: UInt64, endNanos: UInt64, attributes: [(key: String, value: String)] = [], isError: Bool = false,
        statusMessage: String = "", serviceName: String? = nil
    ) {
        self.traceID = traceID
        self.spanID = spanID
        self.parentSpanID = parentSpanID
        self.name = name
        self.kind = kind
        self.startNanos = startNanos
        self.endNanos = endNanos
        self.attributes = attributes
        self.isError = isError
        self.statusMessage = statusMessage
        self.serviceName = serviceName
    }

    public static func == (lhs: OTLPSpan, rhs: OTLPSpan) -> Bool {
        lhs.traceID == rhs.traceID && lhs.spanID == rhs.spanID && lhs.parentSpanID == rhs.parentSpanID
            && lhs.name == rhs.name && lhs.kind == rhs.kind && lhs.startNanos == rhs.startNanos
            && lhs.endNanos == rhs.endNanos && lhs.attributes.map(\.key) == rhs.attributes.map(\.key)
            && lhs.attributes.map(\.value) == rhs.attributes.map(\.value) && lhs.isError == rhs.isError
            && lhs.statusMessage == rhs.statusMessage && lhs.serviceName == rhs.serviceName
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(traceID)
        hasher.combine(spanID)
    }

    /// The X-Ray trace id this span belongs to: an OTel trace id whose first 4 bytes are the X-Ray epoch, which
    /// is what a function gets when it takes its trace id from `_X_AMZN_TRACE_ID`, so its spans join the
    /// platform's segments under one trace.
    public var xrayTraceID: String {
        let hex = Self.hex(traceID)
        return "1-\(hex.prefix(8))-\(hex.dropFirst(8))"
    }

    /// The span as an X-Ray document: a subsegment under its parent, or a segment of its own when it is a root
    /// span (named after the service). The OTel facts go under `metadata.otel`.
    public func segmentDocument() -> Result<SegmentDocument, SegmentDocument.Problem> {
        var json = "{\"name\":"
        // X-Ray names are 1–200 characters.
        var shownName = parentSpanID.isEmpty ? (serviceName ?? name) : name
        if shownName.isEmpty { shownName = parentSpanID.isEmpty ? name : "" }
        if shownName.isEmpty { shownName = "unnamed" }
        JSONText.appendQuoted(String(shownName.prefix(200)), to: &json)
        json += ",\"id\":\"\(Self.hex(spanID))\",\"trace_id\":\"\(xrayTraceID)\""
        if !parentSpanID.isEmpty {
            json += ",\"type\":\"subsegment\",\"parent_id\":\"\(Self.hex(parentSpanID))\""
        }
        json += ",\"start_time\":\(Self.seconds(startNanos)),\"end_time\":\(Self.seconds(max(endNanos, startNanos)))"
        if kind == .client || kind == .producer { json += ",\"namespace\":\"remote\"" }
        if isError { json += ",\"fault\":true" }
        json += ",\"metadata\":{\"otel\":{\"span_name\":"
        JSONText.appendQuoted(name, to: &json)
        json += ",\"kind\":\"\(kind.name)\""
        if let serviceName {
            json += ",\"service.name\":"
            JSONText.appendQuoted(serviceName, to: &json)
        }
        if !statusMessage.isEmpty {
            json += ",\"status_message\":"
            JSONText.appendQuoted(statusMessage, to: &json)
        }
        json += ",\"attributes\":{"
        for (index, attribute) in attributes.enumerated() {
            if index > 0 { json += "," }
            JSONText.appendQuoted(attribute.key, to: &json)
            json += ":"
            JSONText.appendQuoted(attribute.value, to: &json)
        }
        json += "}}}}"
        return SegmentDocument.validate(Array(json.utf8))
    }

    static func seconds(_ nanos: UInt64) -> String {
        let whole = nanos / 1_000_000_000
        let fraction = String(nanos % 1_000_000_000)
        return "\(whole).\(String(repeating: "0", count: 9 - fraction.count))\(fraction)"
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Decodes an OTLP/HTTP trace export (`ExportTraceServiceRequest`, opentelemetry-proto's
/// `collector/trace/v1`) in either of its encodings: binary protobuf (`application/x-protobuf`) or OTLP/JSON
/// (`application/json`: ids in hex, 64-bit integers as strings or numbers, enums as numbers).
///
/// Pure and bounded: a request of more than `maximumSpans` spans, an attribute list of more than
/// `maximumAttributes` or nesting deeper than `maximumDepth` is refused, as are ids of the wrong length or all
/// zero. Unknown protobuf fields are skipped, as protobuf requires.
public enum OTLPTraceDecoder {
    public static let maximumSpans = 10_000
    public static let maximumAttributes = 128
    public static let maximumDepth = 8
    /// Longest attribute value kept; longer ones are cut (and marked with `…`).
    public static let maximumValueLength = 4096

    public struct Failure: Error, Hashable, CustomStringConvertible {
        public var description: String
        init(_ description: String) { self.description = description }
    }

    // MARK: protobuf

    /// What a request held: the spans that passed, and how many were refused one by one (ids of the wrong
    /// length or all zero; in OTLP/JSON also a span whose fields have the wrong types), which the receiver
    /// reports as OTLP's partial success. A request that cannot be read at all throws instead.
    public struct Decoded: Sendable, Hashable {
        public var spans: [OTLPSpan] = []
        public var rejected = 0
        /// Why the first refused span was refused.
        public var firstRejection: String?

        mutating func reject(_ failure: Failure) {
            rejected += 1
            if firstRejection == nil { firstRejection = failure.description }
        }
    }

    /// Either encoding, refusing bad spans one by one (``Decoded``).
    public static func decode(_ bytes: [UInt8], json: Bool) throws(Failure) -> Decoded {
        var decoded = Decoded()
        if json {
            try decodeJSON(bytes, into: &decoded)
        } else {
            var reader = ProtobufReader(bytes[...])
            while let field = try reader.next() {
                guard field.number == 1, case .bytes(let resourceSpans) = field.value else { continue }
                try decodeResourceSpans(resourceSpans, into: &decoded)
            }
        }
        return decoded
    }

    /// The spans of a protobuf request; any refused span fails the whole request.
    public static func decodeProtobuf(_ bytes: [UInt8]) throws(Failure) -> [OTLPSpan] {
        try strict(decode(bytes, json: false))
    }

    private static func strict(_ decoded: Decoded) throws(Failure) -> [OTLPSpan] {
        if let rejection = decoded.firstRejection { throw Failure(rejection) }
        return decoded.spans
    }

    private static func decodeResourceSpans(_ bytes: ArraySlice<UInt8>, into decoded: inout Decoded) throws(Failure) {
        var reader = ProtobufReader(bytes)
        var serviceName: String?
        var scopes: [ArraySlice<UInt8>] = []
        while let field = try reader.next() {
            guard case .bytes(let value) = field.value else { continue }
            switch field.number {
            case 1:
                // Resource { repeated KeyValue attributes = 1; }
                var resource = ProtobufReader(value)
                while let attribute = try resource.next() {
                    guard attribute.number == 1, case .bytes(let keyValue) = attribute.value else { continue }
                    let (key, text) = try decodeKeyValue(keyValue, depth: 1)
                    if key == "service.name" { serviceName = text }
                }
            case 2:
                scopes.append(value)
            default:
                break
            }
        }
        for scope in scopes {
            // ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2; }
            var reader = ProtobufReader(scope)
            while let field = try reader.next() {
                guard field.number == 2, case .bytes(let span) = field.value else { continue }
                guard decoded.spans.count + decoded.rejected < maximumSpans else {
                    throw Failure("more than \(maximumSpans) spans")
                }
                var one = try decodeSpan(span)
                one.serviceName = serviceName
                do throws(Failure) {
                    try check(one)
                    decoded.spans.append(one)
                } catch {
                    decoded.reject(error)
                }
            }
        }
    }

    private static func decodeSpan(_ bytes: ArraySlice<UInt8>) throws(Failure) -> OTLPSpan {
        var span = OTLPSpan(traceID: [], spanID: [], name: "", kind: .unspecified, startNanos: 0, endNanos: 0)
        var reader = ProtobufReader(bytes)
        while let field = try reader.next() {
            switch (field.number, field.value) {
            case (1, .bytes(let value)): span.traceID = Array(value)
            case (2, .bytes(let value)): span.spanID = Array(value)
            case (4, .bytes(let value)): span.parentSpanID = Array(value)
            case (5, .bytes(let value)): span.name = try text(value)
            case (6, .varint(let value)):
                span.kind = OTLPSpan.Kind(rawValue: Int(truncatingIfNeeded: value)) ?? .unspecified
            case (7, .fixed64(let value)): span.startNanos = value
            case (8, .fixed64(let value)): span.endNanos = value
            case (9, .bytes(let value)):
                guard span.attributes.count < maximumAttributes else {
                    throw Failure("a span has more than \(maximumAttributes) attributes")
                }
                let (key, text) = try decodeKeyValue(value, depth: 1)
                span.attributes.append((key, text))
            case (15, .bytes(let value)):
                // Status { string message = 2; StatusCode code = 3; }
                var status = ProtobufReader(value)
                while let part = try status.next() {
                    switch (part.number, part.value) {
                    case (2, .bytes(let message)): span.statusMessage = try text(message)
                    case (3, .varint(let code)): span.isError = code == 2
                    default: break
                    }
                }
            default:
                break
            }
        }
        return span
    }

    /// `KeyValue { string key = 1; AnyValue value = 2; }` → key and the value as text.
    private static func decodeKeyValue(_ bytes: ArraySlice<UInt8>, depth: Int) throws(Failure) -> (String, String) {
        var reader = ProtobufReader(bytes)
        var key = ""
        var value = ""
        while let field = try reader.next() {
            switch (field.number, field.value) {
            case (1, .bytes(let text)): key = try Self.text(text)
            case (2, .bytes(let any)): value = try decodeAnyValue(any, depth: depth, quoted: false)
            default: break
            }
        }
        return (key, cut(value))
    }

    /// `AnyValue` as text; inside arrays and maps (`quoted`) strings are JSON strings, so the whole is JSON.
    private static func decodeAnyValue(_ bytes: ArraySlice<UInt8>, depth: Int, quoted: Bool) throws(Failure) -> String {
        guard depth <= maximumDepth else { throw Failure("attribute values nested deeper than \(maximumDepth)") }
        var reader = ProtobufReader(bytes)
        var result = quoted ? "null" : ""
        while let field = try reader.next() {
            switch (field.number, field.value) {
            case (1, .bytes(let value)):
                let string = try text(value)
                result = quoted ? JSONText.quoted(string) : string
            case (2, .varint(let value)): result = value != 0 ? "true" : "false"
            case (3, .varint(let value)): result = String(Int64(bitPattern: value))
            case (4, .fixed64(let value)): result = String(Double(bitPattern: value))
            case (5, .bytes(let array)):
                var items: [String] = []
                var values = ProtobufReader(array)
                while let item = try values.next() {
                    guard item.number == 1, case .bytes(let any) = item.value else { continue }
                    guard items.count < maximumAttributes else { throw Failure("an array attribute is too long") }
                    items.append(try decodeAnyValue(any, depth: depth + 1, quoted: true))
                }
                result = "[" + items.joined(separator: ",") + "]"
            case (6, .bytes(let list)):
                var members: [String] = []
                var values = ProtobufReader(list)
                while let item = try values.next() {
                    guard item.number == 1, case .bytes(let keyValue) = item.value else { continue }
                    guard members.count < maximumAttributes else { throw Failure("a map attribute is too long") }
                    var pair = ProtobufReader(keyValue)
                    var key = ""
                    var value = "null"
                    while let part = try pair.next() {
                        switch (part.number, part.value) {
                        case (1, .bytes(let text)): key = try Self.text(text)
                        case (2, .bytes(let any)): value = try decodeAnyValue(any, depth: depth + 1, quoted: true)
                        default: break
                        }
                    }
                    members.append(JSONText.quoted(key) + ":" + value)
                }
                result = "{" + members.joined(separator: ",") + "}"
            case (7, .bytes(let value)):
                result = quoted ? JSONText.quoted(ALBBase64.encode(value)) : ALBBase64.encode(value)
            default: break
            }
        }
        return result
    }

    private static func text(_ bytes: ArraySlice<UInt8>) throws(Failure) -> String {
        guard let text = String(validating: bytes, as: UTF8.self) else { throw Failure("a string is not UTF-8") }
        return text
    }

    // MARK: JSON

    /// The spans of an OTLP/JSON request; any refused span fails the whole request.
    public static func decodeJSON(_ bytes: [UInt8]) throws(Failure) -> [OTLPSpan] {
        try strict(decode(bytes, json: true))
    }

    private static func decodeJSON(_ bytes: [UInt8], into decoded: inout Decoded) throws(Failure) {
        guard case .object(let request) = try? JSONParser.parse(String(decoding: bytes, as: UTF8.self)) else {
            throw Failure("the body is not a JSON object")
        }
        for resourceSpans in try array(request["resourceSpans"], "resourceSpans") {
            guard case .object(let resourceObject) = resourceSpans else {
                throw Failure("resourceSpans[] is not an object")
            }
            var serviceName: String?
            if case .object(let resource) = resourceObject["resource"] {
                for attribute in try array(resource["attributes"], "resource.attributes") {
                    let (key, value) = try jsonKeyValue(attribute)
                    if key == "service.name" { serviceName = value }
                }
            }
            for scopeSpans in try array(resourceObject["scopeSpans"], "scopeSpans") {
                guard case .object(let scope) = scopeSpans else { throw Failure("scopeSpans[] is not an object") }
                for item in try array(scope["spans"], "spans") {
                    guard decoded.spans.count + decoded.rejected < maximumSpans else {
                        throw Failure("more than \(maximumSpans) spans")
                    }
                    do throws(Failure) {
                        decoded.spans.append(try jsonSpan(item, serviceName: serviceName))
                    } catch {
                        decoded.reject(error)
                    }
                }
            }
        }
    }

    private static func jsonSpan(_ item: JSONValue, serviceName: String?) throws(Failure) -> OTLPSpan {
        guard case .object(let object) = item else { throw Failure("spans[] is not an object") }
        var parent: [UInt8] = []
        switch object["parentSpanId"] {
        case nil, .null?: break
        case .string(let text)? where text.isEmpty: break
        case let value: parent = try jsonID(value, bytes: 8, "parentSpanId")
        }
        var name = ""
        if case .string(let text) = object["name"] { name = text }
        var span = OTLPSpan(
            traceID: try jsonID(object["traceId"], bytes: 16, "traceId"),
            spanID: try jsonID(object["spanId"], bytes: 8, "spanId"), parentSpanID: parent, name: name,
            kind: OTLPSpan.Kind(rawValue: Int(try jsonInteger(object["kind"], "kind") ?? 0))
                ?? .unspecified,
            startNanos: try jsonInteger(object["startTimeUnixNano"], "startTimeUnixNano") ?? 0,
            endNanos: try jsonInteger(object["endTimeUnixNano"], "endTimeUnixNano") ?? 0,
            serviceName: serviceName)
        let attributes = try array(object["attributes"], "attributes")
        guard attributes.count <= maximumAttributes else {
            throw Failure("a span has more than \(maximumAttributes) attributes")
        }
        span.attributes = try attributes.map { value throws(Failure) in try jsonKeyValue(value) }
        if case .object(let status) = object["status"] {
            span.isError = try jsonInteger(status["code"], "status.code") == 2
            if case .string(let message) = status["message"] { span.statusMessage = message }
        }
        try check(span)
        return span
    }

    private static func array(_ value: JSONValue?, _ name: String) throws(Failure) -> [JSONValue] {
        switch value {
        case nil, .null?: return []
        case .array(let items)?: return items
        default: throw Failure("\(name) is not an array")
        }
    }

    private static func jsonKeyValue(_ value: JSONValue) throws(Failure) -> (key: String, value: String) {
        guard case .object(let pair) = value, case .string(let key) = pair["key"] else {
            throw Failure("an attribute is not {key, value}")
        }
        return (key, cut(try jsonAnyValue(pair["value"], depth: 1, quoted: false)))
    }

    private static func jsonAnyValue(_ value: JSONValue?, depth: Int, quoted: Bool) throws(Failure) -> String {
        guard depth <= maximumDepth else { throw Failure("attribute values nested deeper than \(maximumDepth)") }
        guard case .object(let any) = value else { return quoted ? "null" : "" }
        if case .string(let text) = any["stringValue"] { return quoted ? JSONText.quoted(text) : text }
        if case .bool(let flag) = any["boolValue"] { return flag ? "true" : "false" }
        if let number = any["intValue"] {
            return String(try jsonInteger(number, "intValue").map { Int64(bitPattern: $0) } ?? 0)
        }
        if case .number(let number) = any["doubleValue"] { return number.text }
        if case .string(let encoded) = any["bytesValue"] { return quoted ? JSONText.quoted(encoded) : encoded }
        if case .object(let array) = any["arrayValue"] {
            let items = try Self.array(array["values"], "arrayValue.values")
            guard items.count <= maximumAttributes else { throw Failure("an array attribute is too long") }
            return "["
                + (try items.map { item throws(Failure) in try jsonAnyValue(item, depth: depth + 1, quoted: true) })
                .joined(separator: ",") + "]"
        }
        if case .object(let list) = any["kvlistValue"] {
            let items = try Self.array(list["values"], "kvlistValue.values")
            guard items.count <= maximumAttributes else { throw Failure("a map attribute is too long") }
            var members: [String] = []
            for item in items {
                guard case .object(let pair) = item, case .string(let key) = pair["key"] else {
                    throw Failure("a map attribute member is not {key, value}")
                }
                members.append(
                    JSONText.quoted(key) + ":" + (try jsonAnyValue(pair["value"], depth: depth + 1, quoted: true)))
            }
            return "{" + members.joined(separator: ",") + "}"
        }
        return quoted ? "null" : ""
    }

    /// A 64-bit integer as OTLP/JSON writes it: a decimal string or a number.
    private static func jsonInteger(_ value: JSONValue?, _ name: String) throws(Failure) -> UInt64? {
        switch value {
        case nil, .null?: return nil
        case .string(let text)?:
            if let unsigned = UInt64(text) { return unsigned }
            if let signed = Int64(text) { return UInt64(bitPattern: signed) }
        case .number(let number)?:
            if let unsigned = UInt64(number.text) { return unsigned }
            if let signed = Int64(number.text) { return UInt64(bitPattern: signed) }
        default:
            break
        }
        throw Failure("\(name) is not an integer")
    }

    private static func jsonID(_ value: JSONValue?, bytes count: Int, _ name: String) throws(Failure) -> [UInt8] {
        guard case .string(let text) = value, text.utf8.count == count * 2 else {
            throw Failure("\(name) must be \(count * 2) hex digits")
        }
        var bytes: [UInt8] = []
        var high: UInt8?
        for character in text.utf8 {
            let digit: UInt8
            switch character {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = character - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = character - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = character - UInt8(ascii: "A") + 10
            default: throw Failure("\(name) must be \(count * 2) hex digits")
            }
            if let first = high {
                bytes.append(first << 4 | digit)
                high = nil
            } else {
                high = digit
            }
        }
        return bytes
    }

    // MARK: both

    private static func check(_ span: OTLPSpan) throws(Failure) {
        guard span.traceID.count == 16, span.traceID.contains(where: { $0 != 0 }) else {
            throw Failure("a span's traceId must be 16 bytes, not all zero")
        }
        guard span.spanID.count == 8, span.spanID.contains(where: { $0 != 0 }) else {
            throw Failure("a span's spanId must be 8 bytes, not all zero")
        }
        guard span.parentSpanID.isEmpty || span.parentSpanID.count == 8 else {
            throw Failure("a span's parentSpanId must be 8 bytes or empty")
        }
    }

    private static func cut(_ value: String) -> String {
        value.utf8.count <= maximumValueLength ? value : String(value.prefix(maximumValueLength)) + "…"
    }
}

/// Reads protobuf's wire format: (field number, value) pairs, nested messages as byte ranges.
struct ProtobufReader {
    enum Value {
        case varint(UInt64)
        case fixed64(UInt64)
        case bytes(ArraySlice<UInt8>)
        case fixed32(UInt32)
    }

    private var bytes: ArraySlice<UInt8>

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
    }

    mutating func next() throws(OTLPTraceDecoder.Failure) -> (number: Int, value: Value)? {
        guard !bytes.isEmpty else { return nil }
        let key = try varint()
        let number = Int(truncatingIfNeeded: key >> 3)
        guard number > 0 else { throw OTLPTraceDecoder.Failure("a protobuf field number is 0") }
        switch key & 7 {
        case 0:
            return (number, .varint(try varint()))
        case 1:
            return (number, .fixed64(try fixed(8)))
        case 2:
            let length = try varint()
            guard length <= UInt64(bytes.count) else {
                throw OTLPTraceDecoder.Failure("a protobuf field runs past the end of its message")
            }
            let value = bytes.prefix(Int(length))
            bytes = bytes.dropFirst(Int(length))
            return (number, .bytes(value))
        case 5:
            return (number, .fixed32(UInt32(try fixed(4))))
        default:
            throw OTLPTraceDecoder.Failure("protobuf wire type \(key & 7) is not supported")
        }
    }

    private mutating func varint() throws(OTLPTraceDecoder.Failure) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while let byte = bytes.first {
            bytes = bytes.dropFirst()
            guard shift < 64 else { throw OTLPTraceDecoder.Failure("a protobuf varint is longer than 10 bytes") }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
        throw OTLPTraceDecoder.Failure("a protobuf varint runs past the end of its message")
    }

    private mutating func fixed(_ count: Int) throws(OTLPTraceDecoder.Failure) -> UInt64 {
        guard bytes.count >= count else {
            throw OTLPTraceDecoder.Failure("a protobuf fixed-width field runs past the end of its message")
        }
        var result: UInt64 = 0
        for (index, byte) in bytes.prefix(count).enumerated() { result |= UInt64(byte) << (8 * UInt64(index)) }
        bytes = bytes.dropFirst(count)
        return result
    }
}
