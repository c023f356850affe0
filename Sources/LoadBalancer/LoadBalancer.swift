public import AlbatrossTLS
import Foundation
public import InvocationModel
import NIOConcurrencyHelpers
public import NIOCore
import NIOHTTP1
import NIOPosix
public import Routing

/// The ALB front end: one server channel per listener, each connection answered by ``ALBRequestHandler``.
///
/// Shutdown is in three steps so that the application can drain gracefully: ``stopAccepting()`` closes the listening
/// sockets, ``drain(timeout:)`` waits for requests in flight, ``closeConnections()`` closes what is left.
public final class LoadBalancer: Sendable {
    /// A listener that is accepting connections.
    public struct BoundListener: Sendable {
        public var configuration: ListenerConfiguration
        public var host: String
        public var port: Int
        /// `http://127.0.0.1:8080` (IPv6 hosts in brackets).
        public var url: String
        /// The listener's connection counts and bound (for the `*ConnectionCount` metrics).
        public var connections: ListenerConnections
    }

    private let listeners: [ListenerConfiguration]
    private let attributes: LoadBalancerAttributes
    private let invoker: any InvocationService
    private let events: InvocationEventBus
    private let group: any EventLoopGroup
    private let tlsContexts: [Int: TLSServerContext]
    private let inFlight = InFlightTracker()
    private let serverChannels = NIOLockedValueBox<[any Channel]>([])
    /// What routing follows now: the configuration last given (at start or by ``update(listeners:targetGroups:)``)
    /// and the slot of each bound listener, by index in `listeners`, under one lock, so that a listener bound
    /// after an update starts with the updated rules.
    private let routing: NIOLockedValueBox<Routing>

    private struct Routing {
        var listeners: [ListenerConfiguration]
        var targetGroups: [TargetGroup]
        /// Target groups whose function's resource policy does not let the load balancer invoke it (empty with
        /// `albatross.lambda_permissions.enforced` off; see ``updateLambdaPermissions(denied:)``).
        var denied: Set<String> = []
        var slots: [Int: ListenerSlot] = [:]
    }
    private let connections = NIOLockedValueBox<[ObjectIdentifier: any Channel]>([:])

    /// - Parameter tlsContexts: the TLS context of each HTTPS listener, by index in `listeners`
    ///   (see ``makeTLSContexts(for:)``).
    public init(
        listeners: [ListenerConfiguration], targetGroups: [TargetGroup], attributes: LoadBalancerAttributes,
        invoker: any InvocationService, events: InvocationEventBus, group: any EventLoopGroup,
        tlsContexts: [Int: TLSServerContext] = [:]
    ) {
        self.listeners = listeners
        self.attributes = attributes
        self.invoker = invoker
        self.events = events
        self.group = group
        self.tlsContexts = tlsContexts
        routing = NIOLockedValueBox(Routing(listeners: listeners, targetGroups: targetGroups))
    }

    /// Requests being answered right now.
    public var requestsInFlight: Int { inFlight.current }

    /// Binds every listener. Fails (and closes what was bound) if any port cannot be bound.
    public func start() async throws -> [BoundListener] {
        var bound: [BoundListener] = []
        do {
            for (index, configuration) in listeners.enumerated() {
                bound.append(try await bind(configuration, index: index, tls: tlsContexts[index]))
            }
        } catch {
            await stopAccepting()
            throw error
        }
        return bound
    }

    private func bind(
        _ configuration: ListenerConfiguration, index: Int, tls: TLSServerContext?
    ) async throws -> BoundListener {
        if configuration.protocol == .https && tls == nil {
            throw LoadBalancerError("listener on port \(configuration.port) is HTTPS but has no TLS context")
        }
        let routing = self.routing
        let attributes = self.attributes
        /// The listener's slot, made on first use (a connection can be accepted before bind() returns) from the
        /// configuration routing follows at that moment.
        let slot: @Sendable (_ port: Int) -> ListenerSlot = { port in
            routing.withLockedValue { routing in
                if let slot = routing.slots[index] { return slot }
                let slot = ListenerSlot(
                    ListenerContext(
                        configuration: routing.listeners[index], boundPort: port,
                        targetGroups: routing.targetGroups, attributes: attributes,
                        stickiness: TargetGroupStickiness(), denied: routing.denied))
                routing.slots[index] = slot
                return slot
            }
        }
        let invoker = self.invoker
        let events = self.events
        let inFlight = self.inFlight
        let connections = self.connections
        let idleTimeout = TimeAmount.seconds(Int64(attributes.idleTimeoutSeconds))
        let counts = ListenerConnections(
            limit: attributes.maximumConnectionsPerListener
                ?? ListenerConnections.defaultLimit(listenerCount: listeners.count))
        let channel: any Channel
        do {
            channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .serverChannelOption(.backlog, value: 1024)
                .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
                .childChannelOption(.maxMessagesPerRead, value: 16)
                .childChannelInitializer { channel in
                    // Over the bound: accepted and closed at once, before anything is read (the bootstrap closes a
                    // channel whose initializer fails).
                    guard counts.admit() else {
                        return channel.eventLoop.makeFailedFuture(ConnectionRefused())
                    }
                    return channel.eventLoop.makeCompletedFuture {
                        let slot = slot(channel.parent?.localAddress?.port ?? configuration.port)
                        let id = ObjectIdentifier(channel)
                        connections.withLockedValue { $0[id] = channel }
                        channel.closeFuture.whenComplete { _ in
                            _ = connections.withLockedValue { $0.removeValue(forKey: id) }
                            counts.release()
                        }
                        let sync = channel.pipeline.syncOperations
                        if let tls { try sync.addHandler(tls.makeHandler()) }
                        try sync.addHandler(IdleStateHandler(allTimeout: idleTimeout))
                        try Self.addHTTPHandlers(
                            to: sync,
                            handler: ALBRequestHandler(
                                listener: slot, invoker: invoker, events: events, inFlight: inFlight),
                            headerTimeout: .seconds(Int64(attributes.requestHeaderTimeoutSeconds)))
                    }
                }
                .bind(host: configuration.bindAddress, port: configuration.port)
                .get()
        } catch {
            throw LoadBalancerError(
                "cannot listen on \(configuration.bindAddress):\(configuration.port): \(error)")
        }
        let port = channel.localAddress?.port ?? configuration.port
        _ = slot(port)
        serverChannels.withLockedValue { $0.append(channel) }
        let host =
            configuration.bindAddress.contains(":") ? "[\(configuration.bindAddress)]" : configuration.bindAddress
        return BoundListener(
            configuration: configuration, host: configuration.bindAddress, port: port,
            url: "\(configuration.protocol.lowercased)://\(host):\(port)", connections: counts)
    }

    /// The HTTP part of a connection's pipeline: the listener's own request decoder (custom methods, as an ALB
    /// accepts them), the head deadline right after it, and the ALB handler, which holds pipelined requests back,
    /// answers parser errors itself (with the ALB's page), leaves out HEAD bodies and writes its answers as bytes.
    static func addHTTPHandlers(
        to sync: ChannelPipeline.SynchronousOperations, handler: ALBRequestHandler, headerTimeout: TimeAmount
    ) throws {
        let deadline = RequestHeadDeadlineHandler(timeout: headerTimeout)
        handler.headDeadline = deadline
        try sync.addHandlers([ByteToMessageHandler(HTTP1RequestDecoder()), deadline, handler])
    }

    /// Routes with new rules and target groups from the next request on, on every open connection too (nothing is
    /// dropped; a request already routed finishes where it went). Each listener keeps its socket, attributes and
    /// stickiness key, so the new configurations must bind what the running ones bind: the same number of
    /// listeners, each with the same address, port, protocol and TLS settings.
    public func update(listeners new: [ListenerConfiguration], targetGroups: [TargetGroup]) throws(LoadBalancerError) {
        guard new.count == listeners.count else {
            throw LoadBalancerError("the number of listeners changed (\(listeners.count) → \(new.count))")
        }
        for (old, new) in zip(listeners, new) {
            guard old.port == new.port, old.bindAddress == new.bindAddress, old.protocol == new.protocol,
                old.tls == new.tls
            else {
                throw LoadBalancerError(
                    "the listener on \(old.bindAddress):\(old.port) changed its address, port, protocol or TLS settings"
                )
            }
        }
        // A listener not bound yet takes the new configuration when it binds.
        routing.withLockedValue { routing in
            routing.listeners = new
            routing.targetGroups = targetGroups
            for (index, slot) in routing.slots {
                let running = slot.context
                slot.replace(
                    with: ListenerContext(
                        configuration: new[index], boundPort: running.port, targetGroups: targetGroups,
                        attributes: running.attributes, stickiness: running.stickiness, denied: routing.denied))
            }
        }
    }

    /// With the load-balancer attribute `albatross.lambda_permissions.enforced` (the default), the target groups (by
    /// name) whose registered function's resource policy, as last read, does not allow
    /// `elasticloadbalancing.amazonaws.com` to invoke it for the group's ARN: from the next request on, a forward to
    /// one of them is answered 502 with error reason `LambdaAccessDenied` without invoking anything. The catalog
    /// reloader computes the set after every policy change (the store is never read on an event loop); unchanged
    /// sets change nothing.
    public func updateLambdaPermissions(denied: Set<String>) {
        routing.withLockedValue { routing in
            guard routing.denied != denied else { return }
            routing.denied = denied
            for (index, slot) in routing.slots {
                let running = slot.context
                slot.replace(
                    with: ListenerContext(
                        configuration: routing.listeners[index], boundPort: running.port,
                        targetGroups: routing.targetGroups, attributes: running.attributes,
                        stickiness: running.stickiness, denied: denied))
            }
        }
    }

    /// Changes the weights of one forward action of a running listener (the one on `port`; the rule of
    /// `rulePriority`, or the default action when nil), as `aws elbv2 modify-rule` / `modify-listener` would: the
    /// target groups stay those the action names, each named one gets its new weight (0–999), the others keep
    /// theirs. Applied like ``update(listeners:targetGroups:)``: from the next request on, on open connections
    /// too; stickiness cookies already issued keep routing to their group. Returns the action as it now is.
    @discardableResult
    public func setWeights(
        port: Int, rulePriority: Int?, weights: [String: Int]
    ) throws(LoadBalancerError) -> ForwardAction {
        // Under the routing lock, so that a reload and a weight change apply one after the other.
        try routing.withLockedValue { routing in
            Result { () throws(LoadBalancerError) in
                try Self.setWeights(port: port, rulePriority: rulePriority, weights: weights, in: &routing)
            }
        }.get()
    }

    private static func setWeights(
        port: Int, rulePriority: Int?, weights: [String: Int], in routing: inout Routing
    ) throws(LoadBalancerError) -> ForwardAction {
        guard let (index, slot) = routing.slots.first(where: { $0.value.context.port == port }) else {
            let ports = routing.slots.values.map { String($0.context.port) }.sorted().joined(separator: ", ")
            throw LoadBalancerError("no listener on port \(port) (listeners: \(ports))")
        }
        let running = slot.context
        var configuration = running.configuration
        let action: RuleAction
        let what = rulePriority.map { "rule \($0)" } ?? "the default action"
        if let rulePriority {
            guard let rule = configuration.rules.first(where: { $0.priority == rulePriority }) else {
                throw LoadBalancerError(
                    "the listener on port \(port) has no rule with priority \(rulePriority) (rules: "
                        + configuration.rules.map { String($0.priority) }.joined(separator: ", ") + ")")
            }
            action = rule.action
        } else {
            action = configuration.defaultAction
        }
        guard case .forward(var forward) = action else {
            throw LoadBalancerError("\(what) of the listener on port \(port) is not a forward action")
        }
        let names = forward.targetGroups.map(\.targetGroupName)
        for name in weights.keys where !names.contains(name) {
            throw LoadBalancerError(
                "\(what) of the listener on port \(port) forwards to \(names.joined(separator: ", ")), not \(name) "
                    + "(the groups of an action are changed in the configuration file)")
        }
        for index in forward.targetGroups.indices {
            if let weight = weights[forward.targetGroups[index].targetGroupName] {
                forward.targetGroups[index].weight = weight
            }
        }
        if forward.targetGroups.count < 2 {
            throw LoadBalancerError("\(what) of the listener on port \(port) forwards to one target group: no weights")
        }
        if let issue = RoutingValidation.validateForward(forward) {
            throw LoadBalancerError("\(issue.message)")
        }
        if let rulePriority, let index = configuration.rules.firstIndex(where: { $0.priority == rulePriority }) {
            configuration.rules[index].action = .forward(forward)
        } else {
            configuration.defaultAction = .forward(forward)
        }
        routing.listeners[index] = configuration
        slot.replace(
            with: ListenerContext(
                configuration: configuration, boundPort: running.port, targetGroups: routing.targetGroups,
                attributes: running.attributes, stickiness: running.stickiness, denied: routing.denied))
        return forward
    }

    /// The listeners as they route now (after reloads and weight changes), by bound port.
    public var currentListeners: [(port: Int, configuration: ListenerConfiguration)] {
        routing.withLockedValue { $0.slots }.sorted { $0.key < $1.key }.map {
            ($0.value.context.port, $0.value.context.configuration)
        }
    }

    /// Closes the listening sockets; connections already open keep being served.
    public func stopAccepting() async {
        let channels = serverChannels.withLockedValue { channels -> [any Channel] in
            defer { channels = [] }
            return channels
        }
        for channel in channels { try? await channel.close() }
    }

    /// Waits until no request is in flight, or `timeout` passes. Returns whether everything finished.
    ///
    /// Woken by the request that brings the count to zero (no polling); cancelling the calling task ends the wait
    /// early and returns false.
    public func drain(timeout: Duration) async -> Bool {
        let inFlight = self.inFlight
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await inFlight.waitUntilIdle()
                return inFlight.current == 0
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return inFlight.current == 0
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }

    /// Closes every client connection.
    public func closeConnections() async {
        let open = connections.withLockedValue { Array($0.values) }
        for channel in open { try? await channel.close() }
    }
}

extension LoadBalancer {
    /// Loads the certificates of every HTTPS listener (blocking file I/O: call at start, off event loops).
    /// Errors name the listener and the file at fault.
    public static func makeTLSContexts(for listeners: [ListenerConfiguration]) throws -> [Int: TLSServerContext] {
        var contexts: [Int: TLSServerContext] = [:]
        for (index, listener) in listeners.enumerated() {
            guard listener.protocol == .https, let settings = listener.tls else { continue }
            do {
                contexts[index] = try makeTLSContext(for: settings)
            } catch {
                throw LoadBalancerError("listener \(index) (HTTPS port \(listener.port)): \(error)")
            }
        }
        return contexts
    }

    /// One HTTPS listener's context (the control API's HTTPS uses it too); blocking file I/O.
    public static func makeTLSContext(for settings: ListenerTLSSettings) throws -> TLSServerContext {
        let configuration = TLSServerConfiguration(
            defaultCertificate: TLSCertificateFiles(
                certificateChainPath: settings.defaultCertificate.certificateChainPath,
                privateKeyPath: settings.defaultCertificate.privateKeyPath),
            additionalCertificates: settings.certificates.map {
                TLSCertificateFiles(certificateChainPath: $0.certificateChainPath, privateKeyPath: $0.privateKeyPath)
            },
            policy: try TLSSecurityPolicy.named(settings.securityPolicy))
        return try TLSServerContext(configuration: configuration)
    }
}

/// Why a connection over the listener's bound was closed at once.
struct ConnectionRefused: Error {}

/// A front-end failure with a message naming the listener at fault.
public struct LoadBalancerError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
