/// The target-group and load-balancer attributes that shape the event: one value per target group, built once
/// from configuration and read on every request.
public struct ALBEventOptions: Sendable, Hashable {
    /// `requestContext.elb.targetGroupArn`.
    public var targetGroupArn: String
    /// `lambda.multi_value_headers.enabled`: switches query and header maps in both directions.
    public var multiValueHeaders: Bool
    /// `routing.http.xff_header_processing.mode`.
    public var xffMode: XFFMode
    /// `routing.http.xff_client_port.enabled`: the appended address becomes `ip:port` / `[ipv6]:port`.
    public var xffClientPort: Bool
    /// `routing.http.preserve_host_header.enabled`; when false the listener port is appended to `host` unless it
    /// is 80 on HTTP or 443 on HTTPS.
    public var preserveHostHeader: Bool
    /// `routing.http.drop_invalid_header_fields.enabled`: drop header names not matching `[-A-Za-z0-9]+`.
    public var dropInvalidHeaderFields: Bool
    /// `routing.http.x_amzn_tls_version_and_cipher_suite.enabled`: add `x-amzn-tls-version` and
    /// `x-amzn-tls-cipher-suite` on HTTPS listeners.
    public var tlsHeaders: Bool
    /// Largest request body forwarded, in raw bytes (before base64); bigger → 413.
    public var maximumRequestBodySize: Int

    public static let defaultMaximumRequestBodySize = 1_048_576

    public init(
        targetGroupArn: String, multiValueHeaders: Bool = false, xffMode: XFFMode = .append,
        xffClientPort: Bool = false, preserveHostHeader: Bool = false, dropInvalidHeaderFields: Bool = false,
        tlsHeaders: Bool = false, maximumRequestBodySize: Int = ALBEventOptions.defaultMaximumRequestBodySize
    ) {
        self.targetGroupArn = targetGroupArn
        self.multiValueHeaders = multiValueHeaders
        self.xffMode = xffMode
        self.xffClientPort = xffClientPort
        self.preserveHostHeader = preserveHostHeader
        self.dropInvalidHeaderFields = dropInvalidHeaderFields
        self.tlsHeaders = tlsHeaders
        self.maximumRequestBodySize = maximumRequestBodySize
    }
}

/// `routing.http.xff_header_processing.mode`: what happens to `X-Forwarded-For`.
public enum XFFMode: String, Sendable, Hashable, CaseIterable {
    /// Append the client address to the incoming list (or start one). The ALB default.
    case append
    /// Forward the client's header unchanged (absent stays absent).
    case preserve
    /// Remove the header.
    case remove
}
