public import NIOCore

/// HTTP request → ALB Lambda event JSON, written straight into a `ByteBuffer`.
///
/// The event has the key order of captured ALB events (`requestContext`, `httpMethod`, `path`, query map,
/// header map, `body`, `isBase64Encoded`), map keys sorted byte-wise, no whitespace. Path and query are raw,
/// never decoded; a missing query gives `{}`; a query segment without `=` maps to `""`; single-value maps keep
/// the last value of a repeated key, multi-value maps keep every value in arrival order. Header names are
/// lower-cased; `x-forwarded-for`/`-proto`/`-port` and `x-amzn-trace-id` are added or rewritten as ALB does.
public enum ALBEventEncoder {
    /// Writes the event for one request into `buffer` and returns the `x-amzn-trace-id` value it carries.
    ///
    /// - Throws: `ALBRejection` 413 `LambdaRequestTooLarge` when the body is over
    ///   `options.maximumRequestBodySize`; 502 `LambdaBadRequest` when a text-typed body or a header value is not
    ///   valid UTF-8 (a header value holding U+FFFD, which is what the HTTP parser makes of invalid bytes).
    ///   Nothing is left in `buffer` when it throws.
    public static func encode(
        head: ALBRequestHead, body: ByteBuffer?, connection: ALBConnectionInfo, options: ALBEventOptions,
        now epochSeconds: Int, random: inout some RandomNumberGenerator, into buffer: inout ByteBuffer
    ) throws(ALBRejection) -> String {
        let bodyLength = body?.readableBytes ?? 0
        guard bodyLength <= options.maximumRequestBodySize else {
            throw ALBRequestCheck.requestTooLarge(length: bodyLength, limit: options.maximumRequestBodySize)
        }
        let multiValue = options.multiValueHeaders

        // Headers: lower-case, filter, collect what the ALB rewrites.
        var fields: [(name: String, value: String)] = []
        fields.reserveCapacity(head.headers.count + 6)
        var forwardedFor: [String] = []
        var incomingTrace: String? = nil
        var contentType: String? = nil
        var hasContentEncoding = false
        var headerBytes = 0
        var textLength = 0
        let replacesTLSHeaders = options.tlsHeaders && connection.isHTTPS
        for header in head.headers {
            headerBytes += header.name.utf8.count + header.value.utf8.count + 4
            if options.dropInvalidHeaderFields && !ASCII.isALBHeaderName(header.name) { continue }
            if ASCII.containsReplacementCharacter(header.value) {
                throw ALBRejection(
                    status: 502, reason: "LambdaBadRequest",
                    message: "the value of header '\(header.name)' is not valid UTF-8")
            }
            let name = ASCII.lowercased(header.name)
            var value = header.value
            switch name {
            case "x-forwarded-for":
                forwardedFor.append(value)
                continue
            case "x-forwarded-proto", "x-forwarded-port":
                continue
            case "x-amzn-trace-id":
                incomingTrace = value
                continue
            case "x-amzn-tls-version", "x-amzn-tls-cipher-suite":
                if replacesTLSHeaders { continue }
            case "host":
                if !options.preserveHostHeader { value = hostWithListenerPort(value, connection: connection) }
            case "content-type":
                contentType = value
            case "content-encoding":
                hasContentEncoding = true
            default:
                break
            }
            textLength += name.utf8.count + value.utf8.count
            fields.append((name, value))
        }

        switch options.xffMode {
        case .append:
            var value = ""
            for incoming in forwardedFor {
                let trimmed = ASCII.trimmed(Substring(incoming))
                guard !trimmed.isEmpty else { continue }
                value += trimmed
                value += ", "
            }
            value += forwardedAddress(connection, withPort: options.xffClientPort)
            fields.append(("x-forwarded-for", value))
        case .preserve:
            for incoming in forwardedFor { fields.append(("x-forwarded-for", incoming)) }
        case .remove:
            break
        }
        fields.append(("x-forwarded-port", String(connection.listenerPort)))
        fields.append(("x-forwarded-proto", connection.isHTTPS ? "https" : "http"))
        let trace = ALBTraceHeader.forwardedValue(
            incoming: incomingTrace, headersOversize: headerBytes > ALBTraceHeader.oversizeThreshold,
            epochSeconds: epochSeconds, random: &random)
        fields.append(("x-amzn-trace-id", trace))
        if replacesTLSHeaders {
            if let version = connection.tlsProtocol { fields.append(("x-amzn-tls-version", version)) }
            if let suite = connection.tlsCipherSuite { fields.append(("x-amzn-tls-cipher-suite", suite)) }
        }
        fields.sort { ASCII.bytesPrecede($0.name, $1.name) }

        // The event.
        let start = buffer.writerIndex
        let bodyEstimate = bodyLength == 0 ? 0 : ALBBase64.encodedLength(of: bodyLength)
        buffer.reserveCapacity(
            minimumWritableBytes: 256 + options.targetGroupArn.utf8.count + head.uri.utf8.count * 2
                + textLength + fields.count * 16 + bodyEstimate)
        buffer.writeStaticString("{\"requestContext\":{\"elb\":{\"targetGroupArn\":")
        buffer.writeJSONString(options.targetGroupArn)
        buffer.writeStaticString("}},\"httpMethod\":")
        buffer.writeJSONString(head.method)
        writePathAndQuery(of: head.uri, multiValue: multiValue, into: &buffer)
        buffer.writeStaticString(multiValue ? ",\"multiValueHeaders\":" : ",\"headers\":")
        writeMap(fields, multiValue: multiValue, into: &buffer)
        buffer.writeStaticString(",\"body\":")
        guard let body, bodyLength > 0 else {
            buffer.writeStaticString("\"\",\"isBase64Encoded\":false}")
            return trace
        }
        if !hasContentEncoding, let contentType, isTextMediaType(contentType) {
            let written = body.withUnsafeReadableBytes { buffer.writeJSONString(utf8: $0) }
            guard written != nil else {
                buffer.moveWriterIndex(to: start)
                throw ALBRejection(
                    status: 502, reason: "LambdaBadRequest",
                    message: "request body declared as '\(contentType)' is not valid UTF-8")
            }
            buffer.writeStaticString(",\"isBase64Encoded\":false}")
        } else {
            buffer.writeInteger(UInt8(ascii: "\""))
            ALBBase64.encode(body, into: &buffer)
            buffer.writeStaticString("\",\"isBase64Encoded\":true}")
        }
        return trace
    }

    /// Writes the event of an ALB health check: `GET` of the health-check path (a `?query` part is split off as
    /// usual), `user-agent: ELB-HealthChecker/2.0` as the only header (no trace or forwarding headers), empty
    /// body. In multi-value mode the same data in multi-value form.
    public static func encodeHealthCheck(path: String = "/", options: ALBEventOptions, into buffer: inout ByteBuffer) {
        let multiValue = options.multiValueHeaders
        buffer.writeStaticString("{\"requestContext\":{\"elb\":{\"targetGroupArn\":")
        buffer.writeJSONString(options.targetGroupArn)
        buffer.writeStaticString("}},\"httpMethod\":\"GET\"")
        writePathAndQuery(of: path, multiValue: multiValue, into: &buffer)
        buffer.writeStaticString(
            multiValue
                ? ",\"multiValueHeaders\":{\"user-agent\":[\"ELB-HealthChecker/2.0\"]}"
                : ",\"headers\":{\"user-agent\":\"ELB-HealthChecker/2.0\"}")
        buffer.writeStaticString(",\"body\":\"\",\"isBase64Encoded\":false}")
    }

    // MARK: - Rules

    /// The media types ALB forwards as text: `text/*`, `application/json`, `application/javascript`,
    /// `application/xml`; parameters such as `charset` are ignored, and suffix types (`+json`) are not text.
    public static func isTextMediaType(_ contentType: String) -> Bool {
        let mediaType = ASCII.trimmed(ASCII.split(Substring(contentType), separator: UInt8(ascii: ";"))[0])
        return ASCII.hasPrefixIgnoringCase(mediaType, lowercase: "text/")
            || ASCII.equalsIgnoringCase(mediaType, lowercase: "application/json")
            || ASCII.equalsIgnoringCase(mediaType, lowercase: "application/javascript")
            || ASCII.equalsIgnoringCase(mediaType, lowercase: "application/xml")
    }

    /// `host` with `:<listener port>` appended unless the port is the scheme's standard one (80 on HTTP, 443 on
    /// HTTPS), the value is empty, or it already names a port.
    public static func hostWithListenerPort(_ host: String, connection: ALBConnectionInfo) -> String {
        let standardPort = connection.isHTTPS ? 443 : 80
        guard connection.listenerPort != standardPort, !host.isEmpty else { return host }
        let utf8 = host.utf8
        if let colon = utf8.lastIndex(of: UInt8(ascii: ":")) {
            guard let bracket = utf8.lastIndex(of: UInt8(ascii: "]")), bracket > colon else { return host }
        }
        return host + ":" + String(connection.listenerPort)
    }

    /// The address ALB appends to `x-forwarded-for`: the client IP (an IPv4-mapped IPv6 address as IPv4), or
    /// `ip:port` / `[ipv6]:port` with the client-port attribute.
    public static func forwardedAddress(_ connection: ALBConnectionInfo, withPort: Bool) -> String {
        var address = connection.clientAddress
        if ASCII.hasPrefixIgnoringCase(address, lowercase: "::ffff:"), address.utf8.contains(UInt8(ascii: ".")) {
            address = String(address.utf8.dropFirst(7))!
        }
        guard withPort else { return address }
        if address.utf8.contains(UInt8(ascii: ":")) {
            return "[" + address + "]:" + String(connection.clientPort)
        }
        return address + ":" + String(connection.clientPort)
    }

    /// Writes `,"path":…` and the query map of a request target, working on its UTF-8 bytes.
    ///
    /// The path is the target up to the first `?`; absolute-form targets (`http://host/p?q`) lose scheme and
    /// authority; an empty path becomes `/`. The query (everything after the first `?`) is split on `&` (empty
    /// segments dropped) and each segment at its first `=` (no `=` → value `""`); keys are sorted byte-wise,
    /// arrival order kept among equal keys; nothing is decoded.
    static func writePathAndQuery(of target: String, multiValue: Bool, into buffer: inout ByteBuffer) {
        let done: Void? = target.utf8.withContiguousStorageIfAvailable { utf8 in
            writePathAndQuery(UnsafeRawBufferPointer(utf8), multiValue: multiValue, into: &buffer)
        }
        if done == nil {
            var copy = target
            copy.makeContiguousUTF8()
            copy.withUTF8 { writePathAndQuery(UnsafeRawBufferPointer($0), multiValue: multiValue, into: &buffer) }
        }
    }

    /// One query parameter as byte offsets into the target.
    private struct QueryParameter {
        var nameStart: Int
        var nameEnd: Int
        var valueStart: Int
        var valueEnd: Int
    }

    private static func writePathAndQuery(
        _ bytes: UnsafeRawBufferPointer, multiValue: Bool, into buffer: inout ByteBuffer
    ) {
        let count = bytes.count
        var pathStart = 0
        for scheme: StaticString in ["http://", "https://"] where hasPrefixIgnoringCase(bytes, scheme) {
            pathStart = scheme.utf8CodeUnitCount
            while pathStart < count, bytes[pathStart] != UInt8(ascii: "/"), bytes[pathStart] != UInt8(ascii: "?") {
                pathStart += 1
            }
            break
        }
        var queryMark = pathStart
        while queryMark < count, bytes[queryMark] != UInt8(ascii: "?") { queryMark += 1 }
        buffer.writeStaticString(",\"path\":")
        if queryMark == pathStart {
            buffer.writeStaticString("\"/\"")
        } else {
            writeJSON(bytes, pathStart, queryMark, leading: nil, trailing: nil, into: &buffer)
        }
        buffer.writeStaticString(multiValue ? ",\"multiValueQueryStringParameters\":" : ",\"queryStringParameters\":")
        guard queryMark + 1 < count else {
            buffer.writeStaticString("{}")
            return
        }
        var segments = 1
        for index in (queryMark + 1)..<count where bytes[index] == UInt8(ascii: "&") { segments += 1 }
        withUnsafeTemporaryAllocation(of: QueryParameter.self, capacity: segments) { storage in
            var parameterCount = 0
            var segmentStart = queryMark + 1
            while segmentStart <= count {
                var segmentEnd = segmentStart
                while segmentEnd < count, bytes[segmentEnd] != UInt8(ascii: "&") { segmentEnd += 1 }
                if segmentEnd > segmentStart {
                    var equals = segmentStart
                    while equals < segmentEnd, bytes[equals] != UInt8(ascii: "=") { equals += 1 }
                    let valueStart = equals < segmentEnd ? equals + 1 : segmentEnd
                    (storage.baseAddress! + parameterCount).initialize(
                        to: QueryParameter(
                            nameStart: segmentStart, nameEnd: equals, valueStart: valueStart, valueEnd: segmentEnd))
                    parameterCount += 1
                }
                segmentStart = segmentEnd + 1
            }
            var parameters = UnsafeMutableBufferPointer(rebasing: storage[0..<parameterCount])
            defer { parameters.deinitialize() }
            @inline(__always) func name(_ parameter: QueryParameter) -> UnsafeRawBufferPointer {
                UnsafeRawBufferPointer(rebasing: bytes[parameter.nameStart..<parameter.nameEnd])
            }
            parameters.sort { ASCII.bytesPrecede(name($0), name($1)) }
            guard parameterCount > 0 else {
                buffer.writeStaticString("{}")
                return
            }
            var index = 0
            while index < parameterCount {
                var end = index + 1
                while end < parameterCount, name(parameters[end]).elementsEqual(name(parameters[index])) { end += 1 }
                let first = parameters[index]
                writeJSON(
                    bytes, first.nameStart, first.nameEnd, leading: index == 0 ? UInt8(ascii: "{") : UInt8(ascii: ","),
                    trailing: UInt8(ascii: ":"), into: &buffer)
                if multiValue {
                    for position in index..<end {
                        writeJSON(
                            bytes, parameters[position].valueStart, parameters[position].valueEnd,
                            leading: position == index ? UInt8(ascii: "[") : UInt8(ascii: ","),
                            trailing: position == end - 1 ? UInt8(ascii: "]") : nil, into: &buffer)
                    }
                } else {
                    let last = parameters[end - 1]
                    writeJSON(bytes, last.valueStart, last.valueEnd, leading: nil, trailing: nil, into: &buffer)
                }
                index = end
            }
            buffer.writeInteger(UInt8(ascii: "}"))
        }
    }

    @inline(__always)
    private static func writeJSON(
        _ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int, leading: UInt8?, trailing: UInt8?,
        into buffer: inout ByteBuffer
    ) {
        let slice = UnsafeRawBufferPointer(rebasing: bytes[start..<end])
        let length = JSONStringWriter.escapedLength(slice, validating: false)!
        _ = JSONStringWriter.write(slice, escapedLength: length, leading: leading, trailing: trailing, into: &buffer)
    }

    private static func hasPrefixIgnoringCase(_ bytes: UnsafeRawBufferPointer, _ literal: StaticString) -> Bool {
        let length = literal.utf8CodeUnitCount
        guard bytes.count >= length else { return false }
        for index in 0..<length where ASCII.lower(bytes[index]) != literal.utf8Start[index] { return false }
        return true
    }

    /// `{"k":"v",…}` or `{"k":["v1","v2"],…}` from pairs already sorted by name, in one buffer operation: the
    /// escaped lengths are measured first, then every string is copied into the room reserved for them all (one
    /// `ByteBuffer` write a string cost about 200 instructions each, 14 a request; issue 14).
    private static func writeMap<Text: StringProtocol>(
        _ pairs: [(name: Text, value: Text)], multiValue: Bool, into buffer: inout ByteBuffer
    ) {
        guard !pairs.isEmpty else {
            buffer.writeStaticString("{}")
            return
        }
        withUnsafeTemporaryAllocation(of: Int.self, capacity: pairs.count * 2) { lengths in
            // Each pair: quoted name and value, and at most four punctuation bytes (`{`/`,`, `:`, `[`/`,`, `]`).
            var total = 1
            for index in 0..<pairs.count {
                let name = JSONStringWriter.withUTF8(of: pairs[index].name) {
                    JSONStringWriter.escapedLength($0, validating: false)!
                }
                let value = JSONStringWriter.withUTF8(of: pairs[index].value) {
                    JSONStringWriter.escapedLength($0, validating: false)!
                }
                (lengths.baseAddress! + 2 * index).initialize(to: name)
                (lengths.baseAddress! + 2 * index + 1).initialize(to: value)
                total += name + value + 8
            }
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: total) { output in
                var position = 0
                @inline(__always) func write(_ text: Text, length: Int, leading: UInt8?, trailing: UInt8?) {
                    position = JSONStringWriter.withUTF8(of: text) {
                        JSONStringWriter.write(
                            $0, escapedLength: length, leading: leading, trailing: trailing, to: output, at: position)
                    }
                }
                var index = 0
                while index < pairs.count {
                    var end = index + 1
                    while end < pairs.count, ASCII.bytesEqual(pairs[end].name, pairs[index].name) { end += 1 }
                    let leading = index == 0 ? UInt8(ascii: "{") : UInt8(ascii: ",")
                    write(pairs[index].name, length: lengths[2 * index], leading: leading, trailing: UInt8(ascii: ":"))
                    if multiValue {
                        for item in index..<end {
                            write(
                                pairs[item].value, length: lengths[2 * item + 1],
                                leading: item == index ? UInt8(ascii: "[") : UInt8(ascii: ","),
                                trailing: item == end - 1 ? UInt8(ascii: "]") : nil)
                        }
                    } else {
                        write(pairs[end - 1].value, length: lengths[2 * (end - 1) + 1], leading: nil, trailing: nil)
                    }
                    index = end
                }
                output[position] = UInt8(ascii: "}")
                return position + 1
            }
        }
    }
}
