/// The parts of an incoming request that listener rules look at, gathered once by the front end.
///
/// Rules never see the NIO request head: keeping the facts a plain value makes the router pure, cheap to test
/// and independent of the HTTP stack.
public struct RequestFacts: Sendable, Hashable {
    /// The request method exactly as received (rules compare it case-sensitively).
    public var method: String
    /// The request path as received, without the query string and without percent-decoding.
    public var rawPath: String
    /// The raw query string without the leading `?`; nil when the request target has no `?`.
    public var rawQuery: String?
    /// The value of the `Host` header (possibly with a port); nil when the request had none.
    public var host: String?
    /// Every header line in arrival order, names as received.
    public var headers: [(name: String, value: String)]
    /// The TCP peer address as text (`203.0.113.10`, `::1`), never taken from `X-Forwarded-For`.
    public var sourceAddress: String

    public init(
        method: String,
        rawPath: String,
        rawQuery: String? = nil,
        host: String? = nil,
        headers: [(name: String, value: String)] = [],
        sourceAddress: String
    ) {
        self.method = method
        self.rawPath = rawPath
        self.rawQuery = rawQuery
        self.host = host
        self.headers = headers
        self.sourceAddress = sourceAddress
    }

    public static func == (lhs: RequestFacts, rhs: RequestFacts) -> Bool {
        lhs.method == rhs.method && lhs.rawPath == rhs.rawPath && lhs.rawQuery == rhs.rawQuery
            && lhs.host == rhs.host && lhs.sourceAddress == rhs.sourceAddress
            && lhs.headers.count == rhs.headers.count
            && zip(lhs.headers, rhs.headers).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(method)
        hasher.combine(rawPath)
        hasher.combine(rawQuery)
        hasher.combine(host)
        for header in headers {
            hasher.combine(header.name)
            hasher.combine(header.value)
        }
        hasher.combine(sourceAddress)
    }
}
