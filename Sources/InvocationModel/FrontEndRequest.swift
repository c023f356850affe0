public import NIOCore

/// The facts of one front-end request that an ALB access-log line records (observability.md §3.3), carried by
/// ``InvocationEvent/ResponseWritten`` so that one event holds a whole line: requests the ALB answers itself
/// (413, 400, fixed responses, redirects) have no other event to join with.
///
/// The front end builds it only when someone subscribed to `responseWritten`; times are monotonic except
/// ``requestCreationEpochMicroseconds``, the wall-clock anchor they are converted with.
public struct FrontEndRequest: Sendable, Hashable {
    /// `http` or `https` (the access log's `type`).
    public var scheme: String
    public var clientAddress: String
    public var clientPort: Int
    /// `METHOD scheme://host:port/path?query HTTP/x.y`, as the access log's `request` field prints it.
    public var requestLine: String
    /// The `User-Agent` header; nil when the request had none.
    public var userAgent: String?
    /// OpenSSL's names, e.g. `TLSv1.3` / `TLS_AES_128_GCM_SHA256`; nil on HTTP listeners.
    public var tlsProtocol: String?
    public var tlsCipher: String?
    /// The SNI name the client sent; nil without TLS or SNI.
    public var serverName: String?
    /// The ARN of the certificate presented (`chosen_cert_arn`); nil when there is none to name (local
    /// certificates have no ACM ARN).
    public var certificateARN: String?
    /// Request head plus body bytes received.
    public var receivedBytes: Int
    /// Response head plus body bytes sent.
    public var sentBytes: Int
    /// The `X-Amzn-Trace-Id` the ALB forwarded (`Root=…` or `Self=…;Root=…`); nil when it made none.
    public var traceID: String?
    /// The ARN of the target group that handled the request; nil when none did.
    public var targetGroupARN: String?
    /// The matched rule's priority, 0 for the default rule, nil when the request was answered before routing.
    public var matchedRulePriority: Int?
    /// `forward`, `fixed-response`, `redirect` (observability.md §3.4); empty when no action ran.
    public var actionsExecuted: [String]
    /// The `Location` of a redirect.
    public var redirectURL: String?
    /// The function's `statusCode`, when it returned a valid response.
    public var targetStatusCode: Int?
    /// Wall-clock time the request head arrived, in microseconds since 1970.
    public var requestCreationEpochMicroseconds: Int64
    /// Monotonic time the request head arrived.
    public var receivedAt: NIODeadline
    /// When the event went to the function; nil when the request was not dispatched.
    public var dispatchedAt: NIODeadline?
    /// When the function's result came back.
    public var targetRespondedAt: NIODeadline?
    /// Shared by all requests of one client connection (`TID_` + 32 hex, the log's `conn_trace_id`).
    public var connectionTraceID: String

    public init(
        scheme: String, clientAddress: String, clientPort: Int, requestLine: String, userAgent: String?,
        tlsProtocol: String? = nil, tlsCipher: String? = nil, serverName: String? = nil, certificateARN: String? = nil,
        receivedBytes: Int,
        sentBytes: Int, traceID: String?, targetGroupARN: String?, matchedRulePriority: Int?,
        actionsExecuted: [String], redirectURL: String? = nil, targetStatusCode: Int? = nil,
        requestCreationEpochMicroseconds: Int64, receivedAt: NIODeadline, dispatchedAt: NIODeadline? = nil,
        targetRespondedAt: NIODeadline? = nil, connectionTraceID: String
    ) {
        self.scheme = scheme
        self.clientAddress = clientAddress
        self.clientPort = clientPort
        self.requestLine = requestLine
        self.userAgent = userAgent
        self.tlsProtocol = tlsProtocol
        self.tlsCipher = tlsCipher
        self.serverName = serverName
        self.certificateARN = certificateARN
        self.receivedBytes = receivedBytes
        self.sentBytes = sentBytes
        self.traceID = traceID
        self.targetGroupARN = targetGroupARN
        self.matchedRulePriority = matchedRulePriority
        self.actionsExecuted = actionsExecuted
        self.redirectURL = redirectURL
        self.targetStatusCode = targetStatusCode
        self.requestCreationEpochMicroseconds = requestCreationEpochMicroseconds
        self.receivedAt = receivedAt
        self.dispatchedAt = dispatchedAt
        self.targetRespondedAt = targetRespondedAt
        self.connectionTraceID = connectionTraceID
    }
}
