/// A target group: the one function a forward action invokes, and the event shape it gets.
public struct TargetGroup: Sendable, Hashable {
    public var name: String
    /// `arn:aws:elasticloadbalancing:…:targetgroup/<name>/<hex>`, sent as `requestContext.elb.targetGroupArn`.
    public var arn: String
    /// The registered function; nil when the group has no target (requests get 503).
    public var functionName: String?
    /// `$LATEST`, a version number or an alias; nil means unqualified (`$LATEST`).
    public var qualifier: String?
    /// `lambda.multi_value_headers.enabled`.
    public var multiValueHeaders: Bool

    public init(
        name: String, arn: String, functionName: String?, qualifier: String? = nil, multiValueHeaders: Bool = false
    ) {
        self.name = name
        self.arn = arn
        self.functionName = functionName
        self.qualifier = qualifier
        self.multiValueHeaders = multiValueHeaders
    }
}

public enum ListenerProtocol: String, Sendable, Hashable {
    case http = "HTTP"
    case https = "HTTPS"

    /// `x-forwarded-proto` and `#{protocol}` value.
    public var lowercased: String { self == .http ? "http" : "https" }
}

/// TLS settings of an HTTPS listener as the configuration names them; `AlbatrossTLS` loads the files.
public struct ListenerTLSSettings: Sendable, Hashable {
    public struct Certificate: Sendable, Hashable {
        /// PEM file with the leaf certificate first, then intermediates.
        public var certificateChainPath: String
        /// PEM file with the private key (ECDSA or RSA).
        public var privateKeyPath: String
        public init(certificateChainPath: String, privateKeyPath: String) {
            self.certificateChainPath = certificateChainPath
            self.privateKeyPath = privateKeyPath
        }
    }
    /// Served to clients without SNI or whose name matches no other certificate.
    public var defaultCertificate: Certificate
    /// Additional certificates chosen by SNI.
    public var certificates: [Certificate]
    /// An ALB security policy name, e.g. `ELBSecurityPolicy-TLS13-1-2-2021-06`.
    public var securityPolicy: String

    public init(defaultCertificate: Certificate, certificates: [Certificate] = [], securityPolicy: String) {
        self.defaultCertificate = defaultCertificate
        self.certificates = certificates
        self.securityPolicy = securityPolicy
    }
}

/// Load-balancer attributes that shape the event (alb-lambda.md §1.4.1, §7 item 3).
public struct LoadBalancerAttributes: Sendable, Hashable {
    public enum XFFMode: String, Sendable, Hashable { case append, preserve, remove }
    public enum MultiValueOrder: String, Sendable, Hashable { case preserve, reverse, shuffle }

    /// `routing.http.xff_header_processing.mode`, default `append`.
    public var xffMode: XFFMode = .append
    /// `routing.http.xff_client_port.enabled`, default false.
    public var xffClientPort: Bool = false
    /// `routing.http.preserve_host_header.enabled`, default false.
    public var preserveHostHeader: Bool = false
    /// `routing.http.drop_invalid_header_fields.enabled`, default false.
    public var dropInvalidHeaderFields: Bool = false
    /// `routing.http.x_amzn_tls_version_and_cipher_suite.enabled`, default false.
    public var tlsVersionAndCipherSuiteHeaders: Bool = false
    /// Order of repeated response header lines in multi-value mode; default `reverse` (alb-lambda.md §2.3).
    public var multiValueHeaderOrder: MultiValueOrder = .reverse
    /// Connection idle timeout in seconds (`idle_timeout.timeout_seconds`, default 60).
    public var idleTimeoutSeconds: Int = 60
    /// Seconds a request's head may take from its first byte to its last (`albatross.request_header_timeout_seconds`,
    /// default 10): a client trickling header bytes (slowloris) is answered 408 and closed, whatever the idle timeout.
    public var requestHeaderTimeoutSeconds: Int = 10
    /// Most connections open at once on each listener (`albatross.max_connections_per_listener`); nil, the default,
    /// derives it from the descriptor limit (see `ListenerConnections.defaultLimit`). Connections over it are
    /// accepted and closed at once.
    public var maximumConnectionsPerListener: Int?
    /// A response header naming the function version that ran (`albatross.executed_version_header`); nil, the
    /// default, sends none, as an ALB does.
    public var executedVersionHeader: String?
    /// `albatross.lambda_permissions.enforced`, default true: a target group invokes its function only when the
    /// function's resource policy (as the group names it: the alias's for `web:live`) has a statement allowing
    /// `elasticloadbalancing.amazonaws.com` `lambda:InvokeFunction` for the group's ARN, as on AWS; other requests
    /// get 502 `LambdaAccessDenied`. Each target group of the YAML gets that statement added to the policy when it
    /// appears (as a SAM template adds an `AWS::Lambda::Permission`), so configurations keep working. Off, the
    /// policies are not consulted (the statements are still added).
    public var lambdaPermissionsEnforced: Bool = true
    /// `access_logs.s3.enabled`, default false: write ALB access logs.
    public var accessLogsEnabled: Bool = false
    /// `access_logs.s3.bucket`: in Albatross a local directory standing in for the bucket (absolute once loaded).
    public var accessLogsDirectory: String?
    /// `access_logs.s3.prefix`: the key prefix under the bucket; nil for none.
    public var accessLogsPrefix: String?

    public init() {}
}

/// One listener: where it listens, and the rules that pick an action for each request.
public struct ListenerConfiguration: Sendable, Hashable {
    public var port: Int
    /// Defaults to 127.0.0.1: a local tool should not listen on every interface unless asked.
    public var bindAddress: String
    public var `protocol`: ListenerProtocol
    public var tls: ListenerTLSSettings?
    /// Non-default rules; evaluation order is ascending priority.
    public var rules: [ListenerRule]
    /// The default rule's action, evaluated last.
    public var defaultAction: RuleAction

    public init(
        port: Int,
        bindAddress: String = "127.0.0.1",
        protocol: ListenerProtocol = .http,
        tls: ListenerTLSSettings? = nil,
        rules: [ListenerRule] = [],
        defaultAction: RuleAction
    ) {
        self.port = port
        self.bindAddress = bindAddress
        self.protocol = `protocol`
        self.tls = tls
        self.rules = rules
        self.defaultAction = defaultAction
    }
}

public struct ListenerRule: Sendable, Hashable {
    /// 1–50000, unique per listener.
    public var priority: Int
    /// ANDed; values inside one condition are ORed.
    public var conditions: [RuleCondition]
    public var action: RuleAction

    public init(priority: Int, conditions: [RuleCondition], action: RuleAction) {
        self.priority = priority
        self.conditions = conditions
        self.action = action
    }
}

public enum RuleCondition: Sendable, Hashable {
    /// Case-insensitive, `*` and `?` wildcards; the port in Host is ignored.
    case hostHeader([String])
    /// Case-sensitive, `*` and `?` wildcards, matched against the raw path.
    case pathPattern([String])
    /// Case-sensitive exact match.
    case httpRequestMethod([String])
    /// Header name case-insensitive; values case-insensitive with wildcards.
    case httpHeader(name: String, values: [String])
    /// Satisfied if any pair matches; a nil key means any key.
    case queryString([QueryStringCondition])
    /// CIDR blocks matched against the TCP peer address.
    case sourceIP([String])
}

public struct QueryStringCondition: Sendable, Hashable {
    public var key: String?
    public var value: String
    public init(key: String?, value: String) {
        self.key = key
        self.value = value
    }
}

public enum RuleAction: Sendable, Hashable {
    case forward(ForwardAction)
    case fixedResponse(FixedResponseAction)
    case redirect(RedirectAction)
}

public struct ForwardAction: Sendable, Hashable {
    public struct WeightedTargetGroup: Sendable, Hashable {
        public var targetGroupName: String
        /// 0–999; only meaningful with more than one group.
        public var weight: Int
        public init(targetGroupName: String, weight: Int = 1) {
            self.targetGroupName = targetGroupName
            self.weight = weight
        }
    }
    public var targetGroups: [WeightedTargetGroup]
    /// Target-group stickiness (`AWSALBTG` cookie) duration in seconds; nil when disabled.
    public var stickinessDurationSeconds: Int?

    public init(targetGroups: [WeightedTargetGroup], stickinessDurationSeconds: Int? = nil) {
        self.targetGroups = targetGroups
        self.stickinessDurationSeconds = stickinessDurationSeconds
    }

    public init(targetGroupName: String) {
        self.init(targetGroups: [WeightedTargetGroup(targetGroupName: targetGroupName)])
    }
}

public struct FixedResponseAction: Sendable, Hashable {
    /// Matches `^(2|4|5)\d\d$`.
    public var statusCode: Int
    /// One of text/plain, text/css, text/html, application/javascript, application/json; nil for none.
    public var contentType: String?
    /// At most 1024 characters.
    public var messageBody: String?

    public init(statusCode: Int, contentType: String? = nil, messageBody: String? = nil) {
        self.statusCode = statusCode
        self.contentType = contentType
        self.messageBody = messageBody
    }
}

public struct RedirectAction: Sendable, Hashable {
    /// Each component may hold `#{...}` placeholders; nil keeps the original value.
    public var `protocol`: String?
    public var host: String?
    public var port: String?
    public var path: String?
    public var query: String?
    /// 301 or 302.
    public var statusCode: Int

    public init(
        protocol: String? = nil, host: String? = nil, port: String? = nil, path: String? = nil,
        query: String? = nil, statusCode: Int
    ) {
        self.protocol = `protocol`
        self.host = host
        self.port = port
        self.path = path
        self.query = query
        self.statusCode = statusCode
    }
}
