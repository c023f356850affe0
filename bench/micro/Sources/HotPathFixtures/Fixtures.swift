package import ALBEvents
package import NIOCore

/// The requests and function results the benchmarks feed to the hot path: shaped like real traffic (a browser's
/// GET, an API client's JSON POST, a typical HTML result) so that the figures say something about serving, and
/// built deterministically so that every run measures the same bytes.
package enum Fixtures {
    package static let allocator = ByteBufferAllocator()

    /// A fixed clock reading (2026-11-28T00:00:00Z) for the trace id; the encoder only formats it.
    package static let epochSeconds = 1_795_910_400

    package static let targetGroupArn =
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"

    /// A plain-HTTP client on a non-standard listener port (so `host` gets `:8080`, as on a local emulator).
    package static let connection = ALBConnectionInfo(
        clientAddress: "203.0.113.10", clientPort: 54_321, listenerPort: 8080, isHTTPS: false)

    package static func options(multiValue: Bool) -> ALBEventOptions {
        ALBEventOptions(targetGroupArn: targetGroupArn, multiValueHeaders: multiValue)
    }

    // MARK: - Requests

    package static let getPath = "/catalog/shoes/running"
    package static let getQuery = "color=blue&size=42&sort=price"

    /// A browser-like GET: 10 header fields, a query of 3 parameters.
    package static let browserGet = ALBRequestHead(
        method: "GET", uri: getPath + "?" + getQuery,
        headers: [
            ("Host", "shop.example.com"),
            ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"),
            ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"),
            ("Accept-Language", "en-GB,en;q=0.7,de;q=0.3"),
            ("Accept-Encoding", "gzip, deflate, br, zstd"),
            ("Referer", "https://shop.example.com/catalog/shoes"),
            ("Cookie", "session=6f1c2a9e4b7d40c8a3e5f0b1d2c3e4f5; theme=dark; consent=analytics%3Dno"),
            ("Upgrade-Insecure-Requests", "1"),
            ("Sec-Fetch-Dest", "document"),
            ("Sec-Fetch-Mode", "navigate"),
        ])

    /// An API client's POST of a 4 KiB JSON document (`application/json`, so the event carries it as text).
    package static let jsonPost = ALBRequestHead(
        method: "POST", uri: "/api/orders",
        headers: [
            ("Host", "shop.example.com"),
            ("User-Agent", "shop-client/3.4.1 (linux; x86_64)"),
            ("Accept", "application/json"),
            ("Accept-Encoding", "gzip, deflate, br"),
            ("Accept-Language", "en-GB,en;q=0.7"),
            ("Content-Type", "application/json; charset=utf-8"),
            ("Content-Length", "4096"),
            ("Origin", "https://shop.example.com"),
            ("Referer", "https://shop.example.com/cart"),
            ("Cookie", "session=6f1c2a9e4b7d40c8a3e5f0b1d2c3e4f5; theme=dark"),
        ])

    /// Exactly 4096 bytes of JSON: an order with line items (names with escaped quotes), padded by a note.
    package static let jsonPostBody: ByteBuffer = {
        let size = 4096
        var text = "{\"customer\":\"c-000417\",\"currency\":\"EUR\",\"items\":["
        var index = 1
        while true {
            let item = (index == 1 ? "" : ",")
                + "{\"sku\":\"SKU-\(10_000 + index)\",\"name\":\"Trail runner \\\"\(index)\\\"\","
                + "\"quantity\":\(index % 3 + 1),\"price\":\(40 + index).95}"
            // Leave room for `],"note":"…"}` with at least a few bytes of note.
            guard text.utf8.count + item.utf8.count + 16 < size else { break }
            text += item
            index += 1
        }
        text += "],\"note\":\""
        text += String(repeating: "x", count: size - text.utf8.count - 2)
        text += "\"}"
        precondition(text.utf8.count == size, "POST body must be exactly \(size) bytes")
        return allocator.buffer(string: text)
    }()

    // MARK: - Results

    /// Exactly 1024 bytes of HTML with quotes and newlines, which the result JSON must escape.
    package static let htmlBody: String = {
        let size = 1024
        var text = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Running shoes</title>"
            + "</head>\n<body><ul class=\"results\">\n"
        var index = 1
        while true {
            let item = "<li data-sku=\"SKU-\(10_000 + index)\">Trail runner \(index)</li>\n"
            guard text.utf8.count + item.utf8.count + 32 < size else { break }
            text += item
            index += 1
        }
        let tail = "</ul></body></html>\n"
        text += "<!--" + String(repeating: "-", count: size - text.utf8.count - tail.utf8.count - 7) + "-->"
        text += tail
        precondition(text.utf8.count == size, "HTML body must be exactly \(size) bytes")
        return text
    }()

    /// 1024 bytes of binary body (a repeatable byte pattern covering every byte value).
    package static let binaryBody: [UInt8] = (0..<1024).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ $0 >> 8) }

    package static let resultHeaders: [(name: String, value: String)] = [
        ("content-type", "text/html; charset=utf-8"),
        ("cache-control", "no-store"),
        ("x-request-id", "3f6b2c1e-9d4a-4e8b-a7c5-0b1d2e3f4a5b"),
    ]

    /// `{"statusCode":200,"headers":{3 headers},"body":"<1 KiB of HTML>"}`, or its `multiValueHeaders` form.
    package static func typicalResult(multiValue: Bool) -> ByteBuffer {
        multiValue ? multiValueResult : singleValueResult
    }

    private static let singleValueResult = result(
        multiValue: false, headers: resultHeaders, body: htmlBody, isBase64Encoded: false)
    private static let multiValueResult = result(
        multiValue: true, headers: resultHeaders, body: htmlBody, isBase64Encoded: false)

    /// The same with 1 KiB of binary, base64-encoded (`isBase64Encoded: true`), single-value headers.
    package static let base64Result = result(
        multiValue: false, headers: [("content-type", "image/png"), ("cache-control", "max-age=3600")],
        body: ALBBase64.encode(binaryBody), isBase64Encoded: true)

    private static func result(
        multiValue: Bool, headers: [(name: String, value: String)], body: String, isBase64Encoded: Bool
    ) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 4096)
        buffer.writeString("{\"statusCode\":200,")
        buffer.writeString(multiValue ? "\"multiValueHeaders\":{" : "\"headers\":{")
        for (index, header) in headers.enumerated() {
            if index > 0 { buffer.writeString(",") }
            buffer.writeJSONString(header.name)
            buffer.writeString(multiValue ? ":[" : ":")
            buffer.writeJSONString(header.value)
            if multiValue { buffer.writeString("]") }
        }
        buffer.writeString("},\"body\":")
        buffer.writeJSONString(body)
        buffer.writeString(",\"isBase64Encoded\":\(isBase64Encoded)}")
        return buffer
    }
}
