import ALBEvents

/// One X-Ray segment or subsegment document, validated, as it is stored: one line of JSON.
///
/// Both the platform's own segments and what functions send to the embedded daemon end up as these, so the
/// store and the waterfall see one shape.
public struct SegmentDocument: Sendable, Hashable {
    public var traceID: String
    public var id: String
    /// The document as one line of JSON (newlines between tokens replaced by spaces).
    public var json: String

    public init(traceID: String, id: String, json: String) {
        self.traceID = traceID
        self.id = id
        self.json = json
    }

    /// Why a document is refused.
    public struct Problem: Error, Hashable, CustomStringConvertible {
        public var description: String
        init(_ description: String) { self.description = description }
    }

    /// The X-Ray limit on one document (64 kB) and on one datagram (the daemon's 64 KiB buffer).
    public static let maximumSize = 65_536

    /// Checks a document's JSON the way X-Ray requires it (xray-api-segmentdocuments): an object with `name`,
    /// a 16-hex `id`, a `trace_id` of the form `1-<8 hex>-<24 hex>`, a numeric `start_time` and either
    /// `end_time` or `"in_progress": true`; a subsegment sent on its own also has `type` and `parent_id`.
    public static func validate(_ bytes: some Collection<UInt8>) -> Result<SegmentDocument, Problem> {
        guard bytes.count <= maximumSize else { return .failure(Problem("document larger than 64 KiB")) }
        var text = String(decoding: bytes, as: UTF8.self)
        guard case .object(let object) = try? JSONParser.parse(text) else {
            return .failure(Problem("not a JSON object"))
        }
        guard case .string(let name) = object["name"], !name.isEmpty, name.count <= 200 else {
            return .failure(Problem("name missing or longer than 200 characters"))
        }
        guard case .string(let id) = object["id"], isHex(id, count: 16) else {
            return .failure(Problem("id must be 16 hex digits"))
        }
        guard case .string(let traceID) = object["trace_id"], isTraceID(traceID) else {
            return .failure(Problem("trace_id must be 1-<8 hex>-<24 hex>"))
        }
        guard case .number = object["start_time"] else { return .failure(Problem("start_time must be a number")) }
        var ended = false
        if case .number = object["end_time"] { ended = true }
        if case .bool(true) = object["in_progress"] { ended = true }
        guard ended else { return .failure(Problem("end_time or in_progress: true is required")) }
        if let type = object["type"] {
            guard type == .string("subsegment") else { return .failure(Problem("type must be subsegment")) }
            guard case .string(let parent) = object["parent_id"], isHex(parent, count: 16) else {
                return .failure(Problem("a subsegment needs a 16-hex parent_id"))
            }
        }
        // Raw newlines can only be whitespace between tokens (JSON strings escape them).
        if text.contains(where: { $0 == "\n" || $0 == "\r" }) {
            text = String(text.map { $0 == "\n" || $0 == "\r" ? " " : $0 })
        }
        return .success(SegmentDocument(traceID: traceID, id: id, json: text))
    }

    static func isHex(_ text: String, count: Int) -> Bool {
        text.utf8.count == count && text.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
    }

    /// `1-<8 hex>-<24 hex>`: also what makes a trace id safe as a file name.
    public static func isTraceID(_ text: String) -> Bool {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        return parts.count == 3 && parts[0] == "1" && isHex(String(parts[1]), count: 8)
            && isHex(String(parts[2]), count: 24)
    }
}

/// The daemon protocol's framing (runtime-api.md §5, observability.md §4.4): a header line
/// `{"format": "json", "version": 1}` (spacing free, `format` compared case-insensitively), `\n`, one document.
public enum SegmentDatagram {
    public enum Rejection: Error, Hashable {
        case oversized
        case noHeader
        case badHeader
        case emptyBody
        case badDocument(String)
    }

    /// Splits a datagram at its first newline and checks the header; the body is returned unvalidated.
    public static func body(of datagram: [UInt8]) -> Result<ArraySlice<UInt8>, Rejection> {
        guard datagram.count <= SegmentDocument.maximumSize else { return .failure(.oversized) }
        guard let newline = datagram.firstIndex(of: UInt8(ascii: "\n")) else { return .failure(.noHeader) }
        let header = String(decoding: datagram[..<newline], as: UTF8.self)
        guard case .object(let object) = try? JSONParser.parse(header), case .string(let format) = object["format"],
            format.lowercased() == "json", case .number(let version) = object["version"], Double(version.text) == 1
        else { return .failure(.badHeader) }
        let body = datagram[(newline + 1)...]
        guard body.contains(where: { $0 != 32 && $0 != 9 && $0 != 10 && $0 != 13 }) else {
            return .failure(.emptyBody)
        }
        return .success(body)
    }

    /// Header check and document validation together.
    public static func parse(_ datagram: [UInt8]) -> Result<SegmentDocument, Rejection> {
        switch body(of: datagram) {
        case .failure(let rejection): return .failure(rejection)
        case .success(let body):
            switch SegmentDocument.validate(body) {
            case .success(let document): return .success(document)
            case .failure(let problem): return .failure(.badDocument(problem.description))
            }
        }
    }
}
