/// Reads one HTTP/1.1 response at a time out of a connection's fixed buffer (``BenchSocketClient``): the head,
/// found by a byte scan that resumes where the last read left it, then a body of its `Content-Length` (the
/// listener's answers always carry one). The buffer is bounded: a head must fit in it, and so must the body when
/// the caller keeps it (``keepsBody``); otherwise body bytes are only counted, and each read after the head lands at
/// the buffer's start again.
public struct BenchResponseReader: Sendable {
    public enum Progress: Equatable, Sendable {
        case incomplete
        /// The whole response is in. `body`: where it is in the buffer when kept (empty otherwise); `excess`:
        /// bytes came after it, which an HTTP/1.1 server does not send before the next request.
        case complete(status: Int, body: Range<Int>, excess: Bool)
        case failed(String)
    }

    public let capacity: Int
    public let keepsBody: Bool
    private var headEnd = -1
    private var bodyLength = 0
    private var status = 0
    /// Bytes of the head scanned without finding its end.
    private var scanned = 0
    /// Body bytes counted and dropped (without ``keepsBody``).
    private var bodyReceived = 0

    public init(capacity: Int, keepsBody: Bool) {
        self.capacity = capacity
        self.keepsBody = keepsBody
    }

    /// Ready for the next response.
    public mutating func reset() {
        headEnd = -1
        bodyLength = 0
        status = 0
        scanned = 0
        bodyReceived = 0
    }

    /// What `buffer[0..<filled]` holds after a read. Without ``keepsBody`` it sets `filled` to 0 once the head is
    /// read (the caller's next read goes to the buffer's start).
    public mutating func received(_ buffer: UnsafeRawBufferPointer, filled: inout Int) -> Progress {
        if headEnd < 0 {
            let bytes = UnsafeRawBufferPointer(rebasing: buffer[0..<filled])
            guard let head = BenchHTTPWire.head(in: bytes, from: scanned) else {
                scanned = filled
                return filled >= capacity ? .failed("a response head over \(capacity) bytes") : .incomplete
            }
            headEnd = head.end
            bodyLength = head.bodyLength
            status = BenchHTTPWire.status(bytes)
            if keepsBody {
                guard headEnd + bodyLength <= capacity else {
                    return .failed("an answer over \(capacity) bytes")
                }
            } else {
                bodyReceived = filled - headEnd
                filled = 0
            }
        } else if !keepsBody {
            bodyReceived += filled
            filled = 0
        }
        if keepsBody {
            guard filled >= headEnd + bodyLength else { return .incomplete }
            return .complete(
                status: status, body: headEnd..<(headEnd + bodyLength), excess: filled > headEnd + bodyLength)
        }
        guard bodyReceived >= bodyLength else { return .incomplete }
        return .complete(status: status, body: 0..<0, excess: bodyReceived > bodyLength)
    }
}
