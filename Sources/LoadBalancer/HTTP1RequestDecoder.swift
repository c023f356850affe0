import NIOCore
import NIOHTTP1

/// The listener's HTTP/1.1 request parser: bytes from a client → `HTTPServerRequestPart`s.
///
/// NIO's own decoder (llhttp) refuses every method it does not know, and a `Transfer-Encoding` without `chunked`,
/// before anything of ours sees the request; an ALB forwards custom methods (rules match them case-sensitively:
/// alb-lambda.md §5.2), treats `identity` as no coding and answers other codings with 501 (§1.5). So the listener
/// parses requests itself, as strictly as llhttp in every other respect:
/// - the request line is `token SP target SP HTTP/1.0|1.1 CRLF`, the target visible ASCII; empty lines before it
///   are skipped (RFC 9112 §2.2);
/// - every line ends in CRLF (a bare LF or CR is an error), field names are tokens with no space before the
///   colon, values hold no control character but HTAB, obs-fold is an error;
/// - `Content-Length` is digits, at most once, never with `Transfer-Encoding`; `chunked` must be the last coding
///   and appear once; chunk sizes are hexadecimal with no space after them; trailers are checked as fields;
/// - a head (request line and fields) longer than `maximumHeadLength`, a chunk line longer than
///   `maximumChunkLineLength` or trailers longer than `maximumTrailerLength` are errors, so nothing grows without
///   bound.
///
/// Errors are `HTTPParserError`s, which the ALB handler answers with its 400 page before closing. After CONNECT,
/// an upgrade request or a request whose body cannot be framed (an unknown coding, answered 501), the rest of the
/// connection's bytes are dropped: nothing after them can be read as a request.
struct HTTP1RequestDecoder: ByteToMessageDecoder {
    typealias InboundOut = HTTPServerRequestPart

    /// Raw bytes of a request line and its fields, CRLFs included (NIO's decoder allowed 80 KiB of fields; the
    /// ALB's own limits, 16 KiB a line and 64 KiB of fields, are checked on the parsed head).
    static let maximumHeadLength = 96 * 1024
    /// A chunk-size line with its extensions.
    static let maximumChunkLineLength = 4 * 1024
    /// All trailer fields of a chunked body.
    static let maximumTrailerLength = 16 * 1024

    private enum State {
        case head
        case body(remaining: Int)
        case chunkLine
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
        /// Everything from here on is dropped.
        case dropping
    }

    private var state = State.head
    /// How far the current head (or trailer block) has been searched for its end, from the reader index.
    private var scanned = 0
    /// Where the current line starts, from the reader index, while searching.
    private var lineStart = 0
    /// Whether the connection stops being HTTP once the current message ends.
    private var dropAfterMessage = false

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        switch state {
        case .head:
            guard let end = try findEndOfBlock(in: &buffer, limit: Self.maximumHeadLength, skipLeadingLines: true)
            else { return .needMoreData }
            // Parsed on the raw bytes: a `ByteBufferView`'s indexing goes through the buffer's storage on every
            // byte (about three times the instructions for the same head).
            let head = try buffer.withUnsafeReadableBytes {
                try parseHead(UnsafeRawBufferPointer(rebasing: $0[..<end]))
            }
            buffer.moveReaderIndex(forwardBy: end)
            try frame(head, context: context)
            return .continue
        case .body(let remaining):
            guard buffer.readableBytes > 0 else { return .needMoreData }
            let part = buffer.readSlice(length: min(remaining, buffer.readableBytes))!
            context.fireChannelRead(wrapInboundOut(.body(part)))
            if remaining == part.readableBytes {
                endMessage(trailers: nil, context: context)
            } else {
                state = .body(remaining: remaining - part.readableBytes)
            }
            return .continue
        case .chunkLine:
            guard let size = try readChunkLine(&buffer) else { return .needMoreData }
            state = size == 0 ? .trailers : .chunkData(remaining: size)
            return .continue
        case .chunkData(let remaining):
            guard buffer.readableBytes > 0 else { return .needMoreData }
            let part = buffer.readSlice(length: min(remaining, buffer.readableBytes))!
            context.fireChannelRead(wrapInboundOut(.body(part)))
            state =
                remaining == part.readableBytes ? .chunkDataEnd : .chunkData(remaining: remaining - part.readableBytes)
            return .continue
        case .chunkDataEnd:
            guard buffer.readableBytes >= 2 else { return .needMoreData }
            guard buffer.readInteger(as: UInt16.self) == 0x0D0A else { throw HTTPParserError.invalidChunkSize }
            state = .chunkLine
            return .continue
        case .trailers:
            guard let end = try findEndOfBlock(in: &buffer, limit: Self.maximumTrailerLength, skipLeadingLines: false)
            else { return .needMoreData }
            let trailers = try buffer.withUnsafeReadableBytes { raw in
                let bytes = UnsafeRawBufferPointer(rebasing: raw[..<end])
                var trailers: [(String, String)] = []
                // The block ends with the empty line's CRLF; each line before it is a field.
                var lineStart = bytes.startIndex
                while let lf = bytes[lineStart...].firstIndex(of: UInt8(ascii: "\n")), lf - 1 > lineStart {
                    trailers.append(try Self.parseField(bytes[lineStart..<(lf - 1)]))
                    lineStart = lf + 1
                }
                return trailers
            }
            buffer.moveReaderIndex(forwardBy: end)
            endMessage(trailers: trailers.isEmpty ? nil : HTTPHeaders(trailers), context: context)
            return .continue
        case .dropping:
            buffer.moveReaderIndex(to: buffer.writerIndex)
            return .needMoreData
        }
    }

    mutating func decodeLast(
        context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool
    ) throws
        -> DecodingState
    {
        while try decode(context: context, buffer: &buffer) == .continue {}
        switch state {
        case .head:
            // A request cut off in its head (empty lines before a request are nothing).
            if buffer.readableBytesView.contains(where: { $0 != UInt8(ascii: "\r") && $0 != UInt8(ascii: "\n") }) {
                throw HTTPParserError.invalidEOFState
            }
        case .dropping:
            break
        case .body, .chunkLine, .chunkData, .chunkDataEnd, .trailers:
            throw HTTPParserError.invalidEOFState
        }
        buffer.moveReaderIndex(to: buffer.writerIndex)
        return .needMoreData
    }

    // MARK: the head

    /// Searches the readable bytes for the empty line that ends a block of lines, checking that every line ends in
    /// CRLF. Returns the block's length with that empty line, or nil when more bytes are needed.
    private mutating func findEndOfBlock(
        in buffer: inout ByteBuffer, limit: Int, skipLeadingLines: Bool
    ) throws
        -> Int?
    {
        if skipLeadingLines && scanned == 0 {
            // RFC 9112 §2.2: empty lines before a request line are ignored.
            while buffer.readableBytes >= 2, buffer.getInteger(at: buffer.readerIndex, as: UInt16.self) == 0x0D0A {
                buffer.moveReaderIndex(forwardBy: 2)
            }
            if buffer.readableBytes == 1, buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) == 0x0D {
                return nil
            }
        }
        let found: Int? = try buffer.withUnsafeReadableBytes { bytes in
            var index = scanned
            let count = min(bytes.count, limit + 1)
            while index < count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\n") {
                    guard index > lineStart, bytes[index - 1] == UInt8(ascii: "\r") else {
                        throw HTTPParserError.lfExpected
                    }
                    if index - 1 == lineStart {
                        return index + 1
                    }
                    lineStart = index + 1
                } else if byte == UInt8(ascii: "\r"), index + 1 < bytes.count, bytes[index + 1] != UInt8(ascii: "\n") {
                    throw HTTPParserError.lfExpected
                }
                index += 1
            }
            // Keep a trailing CR unscanned: its LF may come with the next read.
            scanned = index > 0 && bytes[index - 1] == UInt8(ascii: "\r") ? index - 1 : index
            return nil
        }
        if let found {
            scanned = 0
            lineStart = 0
            if found > limit { throw HTTPParserError.headerOverflow }
            return found
        }
        if scanned >= limit { throw HTTPParserError.headerOverflow }
        return nil
    }

    private struct ParsedHead {
        var head: HTTPRequestHead
        var contentLength: Int?
        /// The codings of every `Transfer-Encoding` field, in order, without `identity`; nil with no such field.
        var codings: [Substring]?
        var upgrade: Bool
    }

    private func parseHead(_ bytes: UnsafeRawBufferPointer) throws -> ParsedHead {
        // Request line.
        guard let firstLF = bytes.firstIndex(of: UInt8(ascii: "\n")) else { throw HTTPParserError.invalidInternalState }
        let line = bytes[bytes.startIndex..<(firstLF - 1)]
        guard let space = line.firstIndex(of: UInt8(ascii: " ")), space > line.startIndex,
            line[line.startIndex..<space].allSatisfy(Self.isTokenByte)
        else { throw HTTPParserError.invalidMethod }
        let targetStart = space + 1
        guard let secondSpace = line[targetStart...].firstIndex(of: UInt8(ascii: " ")), secondSpace > targetStart,
            line[targetStart..<secondSpace].allSatisfy({ $0 > 0x20 && $0 < 0x7F })
        else { throw HTTPParserError.invalidURL }
        let versionBytes = line[(secondSpace + 1)...]
        let version: HTTPVersion
        if versionBytes.elementsEqual("HTTP/1.1".utf8) {
            version = .http1_1
        } else if versionBytes.elementsEqual("HTTP/1.0".utf8) {
            version = .http1_0
        } else {
            throw HTTPParserError.invalidVersion
        }
        let method = HTTPMethod(rawValue: String(decoding: line[line.startIndex..<space], as: UTF8.self))
        let uri = String(decoding: line[targetStart..<secondSpace], as: UTF8.self)

        // Fields.
        var fields: [(String, String)] = []
        var contentLength: Int?
        var codings: [Substring]?
        var upgrade = false
        var lineStart = firstLF + 1
        while let lf = bytes[lineStart...].firstIndex(of: UInt8(ascii: "\n")), lf - 1 > lineStart {
            let field = try Self.parseField(bytes[lineStart..<(lf - 1)])
            lineStart = lf + 1
            switch field.0.utf8.count {
            case 14 where Self.equalsIgnoringCase(field.0, "content-length"):
                guard contentLength == nil else { throw HTTPParserError.unexpectedContentLength }
                guard !field.1.isEmpty, field.1.utf8.count <= 18,
                    field.1.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
                    let length = Int(field.1)
                else { throw HTTPParserError.invalidContentLength }
                contentLength = length
            case 17 where Self.equalsIgnoringCase(field.0, "transfer-encoding"):
                var list = codings ?? []
                for coding in field.1.split(separator: ",", omittingEmptySubsequences: true) {
                    let name = coding.trimmingASCIISpaces()
                    if name.isEmpty || Self.equalsIgnoringCase(name, "identity") { continue }
                    list.append(name)
                }
                codings = list
            case 7 where Self.equalsIgnoringCase(field.0, "upgrade"):
                upgrade = true
            default:
                break
            }
            fields.append(field)
        }
        if contentLength != nil && codings != nil { throw HTTPParserError.unexpectedContentLength }
        return ParsedHead(
            head: HTTPRequestHead(version: version, method: method, uri: uri, headers: HTTPHeaders(fields)),
            contentLength: contentLength, codings: codings, upgrade: upgrade)
    }

    /// Sends the head on and chooses how its body is read.
    private mutating func frame(_ parsed: ParsedHead, context: ChannelHandlerContext) throws {
        dropAfterMessage = parsed.upgrade || parsed.head.method == .CONNECT
        var next = State.head
        if parsed.head.method == .CONNECT {
            // The rest would be a tunnel's bytes.
        } else if let codings = parsed.codings, !codings.isEmpty {
            let chunked = codings.filter { Self.equalsIgnoringCase($0, "chunked") }.count
            if chunked == 1 && Self.equalsIgnoringCase(codings[codings.count - 1], "chunked") {
                next = .chunkLine
            } else if chunked > 0 {
                // RFC 9112 §6.3: `chunked` not last (or twice) cannot be framed; a bad request.
                throw HTTPParserError.invalidChunkSize
            } else {
                // Only codings the ALB does not implement: it answers 501; the body's end cannot be found.
                dropAfterMessage = true
            }
        } else if let length = parsed.contentLength, length > 0 {
            next = .body(remaining: length)
        }
        context.fireChannelRead(wrapInboundOut(.head(parsed.head)))
        if case .head = next {
            endMessage(trailers: nil, context: context)
        } else {
            state = next
        }
    }

    private mutating func endMessage(trailers: HTTPHeaders?, context: ChannelHandlerContext) {
        state = dropAfterMessage ? .dropping : .head
        context.fireChannelRead(wrapInboundOut(.end(trailers)))
    }

    // MARK: chunks

    /// Reads `chunk-size [chunk-ext] CRLF`; nil when the line is not complete yet.
    private func readChunkLine(_ buffer: inout ByteBuffer) throws -> Int? {
        let view = buffer.readableBytesView
        guard let lf = view.prefix(Self.maximumChunkLineLength + 2).firstIndex(of: UInt8(ascii: "\n")) else {
            if view.count > Self.maximumChunkLineLength + 1 { throw HTTPParserError.invalidChunkSize }
            return nil
        }
        guard lf > view.startIndex, view[lf - 1] == UInt8(ascii: "\r") else { throw HTTPParserError.lfExpected }
        let line = view[view.startIndex..<(lf - 1)]
        var size = 0
        var digits = 0
        var index = line.startIndex
        while index < line.endIndex, let digit = Self.hexValue(line[index]) {
            guard digits < 15 else { throw HTTPParserError.invalidChunkSize }
            size = size << 4 | digit
            digits += 1
            index += 1
        }
        guard digits > 0 else { throw HTTPParserError.invalidChunkSize }
        if index < line.endIndex {
            // Extensions (ignored, as an ALB does): `;` then no control character but HTAB.
            guard line[index] == UInt8(ascii: ";"),
                line[index...].allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) })
            else { throw HTTPParserError.invalidChunkSize }
        }
        buffer.moveReaderIndex(forwardBy: lf + 1 - view.startIndex)
        return size
    }

    // MARK: bytes

    /// One `name: value` line without its CRLF.
    private static func parseField(_ line: Slice<UnsafeRawBufferPointer>) throws -> (String, String) {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex,
            line[line.startIndex..<colon].allSatisfy(isTokenByte)
        else {
            // Also obs-fold (a line starting with a space) and a space before the colon.
            throw HTTPParserError.invalidHeaderToken
        }
        var start = colon + 1
        var end = line.endIndex
        while start < end, line[start] == 0x20 || line[start] == 0x09 { start += 1 }
        while end > start, line[end - 1] == 0x20 || line[end - 1] == 0x09 { end -= 1 }
        let value = line[start..<end]
        guard value.allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }) else {
            throw HTTPParserError.invalidCharactersUsed
        }
        return (
            String(decoding: line[line.startIndex..<colon], as: UTF8.self), String(decoding: value, as: UTF8.self)
        )
    }

    /// RFC 9110 §5.6.2 `tchar`.
    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
            UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
            UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    private static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return Int(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return Int(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return Int(byte - UInt8(ascii: "A") + 10)
        default: return nil
        }
    }

    private static func equalsIgnoringCase(_ text: some StringProtocol, _ lowercase: StaticString) -> Bool {
        let utf8 = text.utf8
        guard utf8.count == lowercase.utf8CodeUnitCount else { return false }
        var index = 0
        for byte in utf8 {
            let lower = byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
            guard lower == lowercase.utf8Start[index] else { return false }
            index += 1
        }
        return true
    }
}

extension Substring {
    fileprivate func trimmingASCIISpaces() -> Substring {
        var result = self
        while let first = result.utf8.first, first == 0x20 || first == 0x09 { result = result.dropFirst() }
        while let last = result.utf8.last, last == 0x20 || last == 0x09 { result = result.dropLast() }
        return result
    }
}
