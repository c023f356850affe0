public import NIOCore

/// The HTTP response the front end writes for a Lambda result or an ALB-generated error. Headers are the ones
/// the function chose, already filtered (no hop-by-hop headers, no `Content-Length`) and with `Content-Type`
/// defaulted; the HTTP layer adds `Content-Length`, `Date`, `Server` and `Connection` itself.
public struct ALBResponse: Sendable {
    public var status: Int
    /// From `statusDescription` (`"<code> <text>"` → `<text>`), else the IANA phrase.
    public var reasonPhrase: String
    /// In emission order, names as the function wrote them.
    public var headers: [(name: String, value: String)]
    public var body: ByteBuffer

    public init(status: Int, reasonPhrase: String, headers: [(name: String, value: String)], body: ByteBuffer) {
        self.status = status
        self.reasonPhrase = reasonPhrase
        self.headers = headers
        self.body = body
    }
}

/// The order in which the elements of one `multiValueHeaders` array reach the client. ALB does not guarantee
/// it and has been seen reversing it, so the emulator defaults to reversing to flush out order dependencies.
public enum MultiValueOrder: String, Sendable, Hashable, CaseIterable {
    case preserve
    case reverse
    case shuffle

    /// The emulator's default, `.reverse`.
    public static let standard: MultiValueOrder = .reverse
}
