import Foundation

/// Reads HTTP/1.1 responses out of bytes as they arrive, for tests that look at exactly what a server wrote: a
/// socket (``RawHTTPClient``) or an `EmbeddedChannel`'s outbound buffers.
///
/// Bodies are framed by `Content-Length` (none for 1xx, 204, 304 and, with `forHead`, responses to HEAD). Bytes
/// that do not start with a status line where a response should begin are an error, so a test sees a desynchronised
/// connection instead of a misread one.
public struct HTTPResponseReader {
    public struct Malformed: Error, CustomStringConvertible {
        public var text: String
        public var description: String { "not an HTTP response: \(text.debugDescription)" }
    }

    /// Bytes not yet returned as a response.
    public private(set) var buffered: [UInt8] = []

    public init() {}

    public mutating func append(_ bytes: some Sequence<UInt8>) {
        buffered.append(contentsOf: bytes)
    }

    /// The next complete response, or nil until all its bytes are there.
    public mutating func next(forHead: Bool = false) throws -> RawHTTPClient.Response? {
        guard let end = Self.find([13, 10, 13, 10], in: buffered) else { return nil }
        var response = try Self.head(String(decoding: buffered[..<end], as: UTF8.self))
        var length = 0
        if !forHead && response.status >= 200 && response.status != 204 && response.status != 304 {
            guard let declared = Int(response.header("content-length") ?? "0") else {
                throw Malformed(text: String(decoding: buffered[..<end], as: UTF8.self))
            }
            length = declared
        }
        guard buffered.count >= end + 4 + length else { return nil }
        response.body = Array(buffered[(end + 4)..<(end + 4 + length)])
        buffered.removeFirst(end + 4 + length)
        return response
    }

    /// Every complete response buffered.
    public mutating func all(forHead: Bool = false) throws -> [RawHTTPClient.Response] {
        var responses: [RawHTTPClient.Response] = []
        while let response = try next(forHead: forHead) { responses.append(response) }
        return responses
    }

    /// The status line and header lines (without the blank line), body left empty.
    public static func head(_ text: String) throws -> RawHTTPClient.Response {
        var lines = text.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst()
        let parts = statusLine.split(separator: " ", maxSplits: 2).map(String.init)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            throw Malformed(text: text)
        }
        var headers: [(name: String, value: String)] = []
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { throw Malformed(text: text) }
            headers.append(
                (String(line[..<colon]), String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces))
            )
        }
        return RawHTTPClient.Response(
            status: status, reason: parts.count > 2 ? parts[2] : "", headers: headers, body: [])
    }

    static func find(_ marker: [UInt8], in bytes: [UInt8]) -> Int? {
        guard bytes.count >= marker.count else { return nil }
        for i in 0...(bytes.count - marker.count) where bytes[i] == marker[0] {
            if bytes[i..<(i + marker.count)].elementsEqual(marker) { return i }
        }
        return nil
    }
}
