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
    ///   `options.maximumRequestBodySize`; 502 `LambdaBadRequest` when a text-typed body is not valid UTF-8.
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

        // Path and query, raw.
        let (path, query) = splitTarget(head.uri)
        let parameters = queryParameters(query)

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
        buffer.writeStaticString(",\"path\":")
        buffer.writeJSONString(path)
        buffer.writeStaticString(multiValue ? ",\"multiValueQueryStringParameters\":" : ",\"queryStringParameters\":")
        writeMap(parameters, multiValue: multiValue, into: &buffer)
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
        let (rawPath, query) = splitTarget(path)
        let parameters = queryParameters(query)
        buffer.writeStaticString("{\"requestContext\":{\"elb\":{\"targetGroupArn\":")
        buffer.writeJSONString(options.targetGroupArn)
        buffer.writeStaticString("}},\"httpMethod\":\"GET\",\"path\":")
        buffer.writeJSONString(rawPath)
        buffer.writeStaticString(multiValue ? ",\"multiValueQueryStringParameters\":" : ",\"queryStringParameters\":")
        writeMap(parameters, multiValue: multiValue, into: &buffer)
        buffer.writeStaticString(
            multiValue
                ? ",\"multiValueHeaders\":{\"user-agent\":[\"ELB-HealthChecker/2.0\"]}"
                : ",\"headers\":{\"user-agent\":\"ELB-HealthChecker/2.0\"}")
        buffer.writeStaticString(",\"body\":\"\",\"isBase64Encoded\":false}")
    }

    // MARK: - Rules

    /// The raw query split on `&` (empty segments dropped) and at the first `=` of each segment (no `=` → value
    /// `""`), sorted byte-wise by key, arrival order kept among equal keys.
    static func queryParameters(_ query: Substring?) -> [(name: Substring, value: Substring)] {
        guard let query, !query.isEmpty else { return [] }
        var parameters: [(name: Substring, value: Substring)] = []
        for segment in ASCII.split(query, separator: UInt8(ascii: "&")) where !segment.isEmpty {
            if let equals = ASCII.firstIndex(of: UInt8(ascii: "="), in: segment) {
                parameters.append((segment[..<equals], segment[segment.utf8.index(after: equals)...]))
            } else {
                parameters.append((segment, segment[segment.endIndex...]))
            }
        }
        parameters.sort { ASCII.bytesPrecede($0.name, $1.name) }
        return parameters
    }

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

    /// Splits a request target into the raw path and the raw query (everything after the first `?`; nil when
    /// there is no `?`). Absolute-form targets (`http://host/p?q`) lose their scheme and authority; an empty
    /// path becomes `/`.
    static func splitTarget(_ uri: String) -> (path: Substring, query: Substring?) {
        var target = Substring(uri)
        for scheme: StaticString in ["http://", "https://"] where ASCII.hasPrefixIgnoringCase(target, lowercase: scheme)
        {
            let afterScheme = target.utf8.index(target.startIndex, offsetBy: scheme.utf8CodeUnitCount)
            let rest = target[afterScheme...]
            let pathStart = rest.utf8.firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") }
            target = pathStart.map { rest[$0...] } ?? rest[rest.endIndex...]
            break
        }
        var path = target
        var query: Substring? = nil
        if let mark = ASCII.firstIndex(of: UInt8(ascii: "?"), in: target) {
            path = target[..<mark]
            query = target[target.utf8.index(after: mark)...]
        }
        return (path.isEmpty ? "/" : path, query)
    }

    /// `{"k":"v",…}` or `{"k":["v1","v2"],…}` from pairs already sorted by name.
    private static func writeMap<Text: StringProtocol>(
        _ pairs: [(name: Text, value: Text)], multiValue: Bool, into buffer: inout ByteBuffer
    ) {
        buffer.writeInteger(UInt8(ascii: "{"))
        var index = 0
        while index < pairs.count {
            var end = index + 1
            while end < pairs.count, ASCII.bytesEqual(pairs[end].name, pairs[index].name) { end += 1 }
            if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
            buffer.writeJSONString(pairs[index].name)
            buffer.writeInteger(UInt8(ascii: ":"))
            if multiValue {
                buffer.writeInteger(UInt8(ascii: "["))
                for position in index..<end {
                    if position > index { buffer.writeInteger(UInt8(ascii: ",")) }
                    buffer.writeJSONString(pairs[position].value)
                }
                buffer.writeInteger(UInt8(ascii: "]"))
            } else {
                buffer.writeJSONString(pairs[end - 1].value)
            }
            index = end
        }
        buffer.writeInteger(UInt8(ascii: "}"))
    }
}
