public import NIOCore

/// Function result JSON → HTTP response, with ALB's validation and 502 rules.
///
/// Checks, in order: the result is at most 1 MiB (else 502 `LambdaResponseTooLarge`; checked first so that an
/// oversized result is never parsed); it is strict JSON and an object; `statusCode` is present and a JSON integer
/// in `validStatusCodes`; `statusDescription` (string), `body` (string), `isBase64Encoded` (boolean) and the
/// active mode's header field (object of strings, or of arrays of strings) are absent or of that type, never
/// null; header names are tokens and values carry no control characters; a base64 body decodes strictly; the
/// header block is at most 32 KiB (else 502). Every other failure is 502 `LambdaInvalidResponse`. Unknown keys
/// and the other mode's header field are ignored, even when null.
public enum ALBResultDecoder {
    /// Largest result JSON accepted: 1 MiB.
    public static let maximumResultSize = 1_048_576
    /// Largest response header block (`name: value\r\n` per header the function set, including the defaulted
    /// `Content-Type`): 32 KiB.
    public static let maximumHeaderBlockSize = 32 * 1024
    /// `statusCode` values accepted. 1xx codes are refused because a 1xx cannot be a final response.
    public static let validStatusCodes: ClosedRange<Int> = 200...599
    /// Headers the ALB never forwards from a function: hop-by-hop ones and `Content-Length`, which the HTTP
    /// layer computes.
    public static let droppedHeaderNames: [String] = [
        "connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection",
        "proxy-authenticate", "proxy-authorization", "content-length",
    ]

    /// Decodes and validates `result`. `order` applies to each `multiValueHeaders` array; `random` is used by
    /// `.shuffle` only.
    public static func decode(
        _ result: ByteBuffer, multiValueHeaders: Bool, order: MultiValueOrder = .standard,
        random: inout some RandomNumberGenerator, allocator: ByteBufferAllocator
    ) throws(ALBRejection) -> ALBResponse {
        guard result.readableBytes <= maximumResultSize else {
            throw ALBRejection(
                status: 502, reason: "LambdaResponseTooLarge",
                message: "function result is \(result.readableBytes) bytes, over the \(maximumResultSize)-byte limit")
        }
        let document: JSONValue
        do {
            document = try JSONParser.parse(result)
        } catch {
            throw .invalidResponse("function result is not valid JSON: \(error)")
        }
        guard case .object(let object) = document else {
            throw .invalidResponse("function result is a JSON \(document.typeName), not an object")
        }

        guard let statusValue = object["statusCode"] else { throw .invalidResponse("statusCode is missing") }
        guard case .number(let statusNumber) = statusValue, statusNumber.isInteger else {
            throw .invalidResponse("statusCode must be a JSON integer, got \(describe(statusValue))")
        }
        guard let status = statusNumber.integerValue, validStatusCodes.contains(status) else {
            throw .invalidResponse(
                "statusCode \(statusNumber.text) is outside "
                    + "\(validStatusCodes.lowerBound)–\(validStatusCodes.upperBound)"
            )
        }

        let statusDescription = try optionalString(object, "statusDescription")
        let bodyText = try optionalString(object, "body")
        var isBase64Encoded = false
        if let value = object["isBase64Encoded"] {
            guard case .bool(let flag) = value else {
                throw .invalidResponse("isBase64Encoded must be a boolean, got \(describe(value))")
            }
            isBase64Encoded = flag
        }

        var headers = try readHeaders(object, multiValueHeaders: multiValueHeaders, order: order, random: &random)
        for header in headers {
            guard ASCII.isToken(header.name) else {
                throw .invalidResponse("header name '\(header.name)' is not a valid HTTP field name")
            }
            guard ASCII.isFieldValue(header.value) else {
                throw .invalidResponse("header '\(header.name)' has a value with control characters (CR, LF, ...)")
            }
        }

        var body: ByteBuffer
        if let bodyText, !bodyText.isEmpty {
            var text = bodyText
            if isBase64Encoded {
                body = allocator.buffer(capacity: text.utf8.count / 4 * 3)
                let decoded = text.withUTF8 { ALBBase64.decode(UnsafeRawBufferPointer($0), into: &body) }
                guard decoded else {
                    throw .invalidResponse(
                        "body is not valid base64 (standard alphabet, padded, no line breaks) although "
                            + "isBase64Encoded is true"
                    )
                }
            } else {
                body = allocator.buffer(capacity: text.utf8.count)
                body.writeString(text)
            }
        } else {
            body = allocator.buffer(capacity: 0)
        }

        headers.removeAll { isDropped($0.name) }
        if !headers.contains(where: { ASCII.equalsIgnoringCase($0.name, lowercase: "content-type") }) {
            headers.append(("Content-Type", "application/octet-stream"))
        }
        var blockSize = 0
        for header in headers { blockSize += header.name.utf8.count + header.value.utf8.count + 4 }
        guard blockSize <= maximumHeaderBlockSize else {
            throw ALBRejection(
                status: 502, reason: "-",
                message: "response header block is \(blockSize) bytes, over the \(maximumHeaderBlockSize)-byte limit")
        }
        return ALBResponse(
            status: status, reasonPhrase: reasonPhrase(status: status, statusDescription: statusDescription),
            headers: headers, body: body)
    }

    /// The reason phrase: `<text>` of a `"<code> <text>"` description (the code is not compared with
    /// `statusCode`), otherwise the IANA phrase.
    public static func reasonPhrase(status: Int, statusDescription: String?) -> String {
        if let statusDescription {
            let text = Substring(statusDescription)
            let utf8 = text.utf8
            if let space = utf8.firstIndex(of: UInt8(ascii: " ")), space > utf8.startIndex,
                utf8[..<space].allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
            {
                let phrase = ASCII.trimmed(text[utf8.index(after: space)...])
                if !phrase.isEmpty, ASCII.isFieldValue(phrase) { return String(phrase) }
            }
        }
        return HTTPReasonPhrase.phrase(for: status)
    }

    // MARK: - Fields

    private static let droppedHeaderLiterals: [StaticString] = [
        "connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection",
        "proxy-authenticate", "proxy-authorization", "content-length",
    ]

    private static func isDropped(_ name: String) -> Bool {
        droppedHeaderLiterals.contains { ASCII.equalsIgnoringCase(name, lowercase: $0) }
    }

    private static func optionalString(_ object: JSONObject, _ key: String) throws(ALBRejection) -> String? {
        guard let value = object[key] else { return nil }
        guard case .string(let text) = value else {
            throw .invalidResponse("\(key) must be a string, got \(describe(value))")
        }
        return text
    }

    private static func readHeaders(
        _ object: JSONObject, multiValueHeaders: Bool, order: MultiValueOrder,
        random: inout some RandomNumberGenerator
    ) throws(ALBRejection) -> [(name: String, value: String)] {
        let field = multiValueHeaders ? "multiValueHeaders" : "headers"
        guard let value = object[field] else { return [] }
        guard case .object(let map) = value else {
            throw .invalidResponse("\(field) must be an object, got \(describe(value))")
        }
        var headers: [(name: String, value: String)] = []
        headers.reserveCapacity(map.count + 1)
        for member in map.members {
            if multiValueHeaders {
                guard case .array(let elements) = member.value else {
                    throw .invalidResponse(
                        "multiValueHeaders[\"\(member.key)\"] must be an array of strings, "
                            + "got \(describe(member.value))"
                    )
                }
                var values: [String] = []
                values.reserveCapacity(elements.count)
                for element in elements {
                    guard case .string(let text) = element else {
                        throw .invalidResponse(
                            "multiValueHeaders[\"\(member.key)\"] elements must be strings, got \(describe(element))")
                    }
                    values.append(text)
                }
                switch order {
                case .preserve: break
                case .reverse: values.reverse()
                case .shuffle: values.shuffle(using: &random)
                }
                for text in values { headers.append((member.key, text)) }
            } else {
                guard case .string(let text) = member.value else {
                    throw .invalidResponse("headers[\"\(member.key)\"] must be a string, got \(describe(member.value))")
                }
                headers.append((member.key, text))
            }
        }
        return headers
    }

    private static func describe(_ value: JSONValue) -> String {
        switch value {
        case .number(let number): "number \(number.text)"
        case .bool(let flag): "boolean \(flag)"
        case .string(let text): "string \"\(text.prefix(40))\""
        default: value.typeName
        }
    }
}
