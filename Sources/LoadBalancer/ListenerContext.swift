public import ALBEvents
import Atomics
public import Routing

/// Everything a listener's connections need to answer requests: the compiled rules, the target groups with their
/// precomputed event options, and the load-balancer attributes.
///
/// It is immutable and shared by every connection of the listener; the hot path reads it without locks. A
/// configuration reload that changes rules or target groups makes a new one (``ListenerSlot``).
public final class ListenerContext: Sendable {
    public struct ResolvedTargetGroup: Sendable {
        public var targetGroup: TargetGroup
        public var eventOptions: ALBEventOptions
    }

    public let configuration: ListenerConfiguration
    public let router: ListenerRouter
    public let targetGroups: [String: ResolvedTargetGroup]
    public let attributes: LoadBalancerAttributes
    public let multiValueOrder: MultiValueOrder
    /// The port clients connect to (the bound one when the configuration asked for port 0).
    public let port: Int
    /// `HTTP:8080`: how events, metrics and logs name the listener (made once, not per request).
    public let name: String
    /// Seals and opens the `AWSALBTG` cookies of forward actions with stickiness.
    let stickiness: TargetGroupStickiness
    /// Target groups the load balancer may not invoke (their function's resource policy has no statement for
    /// them): forwards to them are answered 502 `LambdaAccessDenied`. Empty when
    /// `albatross.lambda_permissions.enforced` is off.
    let deniedTargetGroups: Set<String>

    public convenience init(
        configuration: ListenerConfiguration, boundPort: Int, targetGroups: [TargetGroup],
        attributes: LoadBalancerAttributes
    ) {
        self.init(
            configuration: configuration, boundPort: boundPort, targetGroups: targetGroups, attributes: attributes,
            stickiness: TargetGroupStickiness())
    }

    init(
        configuration: ListenerConfiguration, boundPort: Int, targetGroups: [TargetGroup],
        attributes: LoadBalancerAttributes, stickiness: TargetGroupStickiness, denied: Set<String> = []
    ) {
        self.configuration = configuration
        self.stickiness = stickiness
        self.deniedTargetGroups = attributes.lambdaPermissionsEnforced ? denied : []
        self.router = ListenerRouter(configuration)
        self.attributes = attributes
        self.port = boundPort
        self.name = "\(configuration.protocol.rawValue):\(boundPort)"
        var resolved: [String: ResolvedTargetGroup] = [:]
        for group in targetGroups {
            let xff: XFFMode
            switch attributes.xffMode {
            case .append: xff = .append
            case .preserve: xff = .preserve
            case .remove: xff = .remove
            }
            let options = ALBEventOptions(
                targetGroupArn: group.arn, multiValueHeaders: group.multiValueHeaders, xffMode: xff,
                xffClientPort: attributes.xffClientPort, preserveHostHeader: attributes.preserveHostHeader,
                dropInvalidHeaderFields: attributes.dropInvalidHeaderFields,
                tlsHeaders: attributes.tlsVersionAndCipherSuiteHeaders)
            resolved[group.name] = ResolvedTargetGroup(targetGroup: group, eventOptions: options)
        }
        self.targetGroups = resolved
        switch attributes.multiValueHeaderOrder {
        case .preserve: multiValueOrder = .preserve
        case .reverse: multiValueOrder = .reverse
        case .shuffle: multiValueOrder = .shuffle
        }
    }
}

/// A listener's current ``ListenerContext``: each request takes the one in place when its head arrives, so new
/// rules and weights apply to the next request of every open connection and no connection is dropped.
final class ListenerSlot: Sendable {
    private final class Box: AtomicReference, Sendable {
        let context: ListenerContext
        init(_ context: ListenerContext) { self.context = context }
    }

    private let current: ManagedAtomic<Box>

    init(_ context: ListenerContext) {
        current = ManagedAtomic(Box(context))
    }

    var context: ListenerContext { current.load(ordering: .acquiring).context }

    func replace(with context: ListenerContext) {
        current.store(Box(context), ordering: .releasing)
    }
}
