import AlbatrossTestKit
import InvocationModel
import NIOPosix
import Routing
import Testing

@testable import LoadBalancer

/// ``LoadBalancer/update(listeners:targetGroups:)`` on real sockets: a listener routes with the rules last given,
/// whether the update came before it was bound (a reload between start and bind) or after.
@Suite struct LoadBalancerUpdateTests {
    static func listener(body: String) -> ListenerConfiguration {
        ListenerConfiguration(
            port: 0, bindAddress: "127.0.0.1",
            rules: [],
            defaultAction: .fixedResponse(
                FixedResponseAction(statusCode: 200, contentType: "text/plain", messageBody: body)))
    }

    @Test func aListenerBoundAfterAnUpdateRoutesWithTheUpdatedRules() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loadBalancer = LoadBalancer(
            listeners: [Self.listener(body: "as started")], targetGroups: [], attributes: LoadBalancerAttributes(),
            invoker: FakeInvocationService(.hold), events: InvocationEventBus(), group: group)
        try loadBalancer.update(listeners: [Self.listener(body: "updated before bind")], targetGroups: [])
        let bound = try await loadBalancer.start()
        let client = try RawHTTPClient(port: bound[0].port, timeout: 10)
        #expect(try client.request("GET", "/").text == "updated before bind")

        try loadBalancer.update(listeners: [Self.listener(body: "updated after bind")], targetGroups: [])
        #expect(try client.request("GET", "/").text == "updated after bind", "the open connection too")

        // What the running listener binds cannot change.
        var moved = Self.listener(body: "x")
        moved.port = 1
        #expect(throws: LoadBalancerError.self) { try loadBalancer.update(listeners: [moved], targetGroups: []) }
        #expect(try client.request("GET", "/").text == "updated after bind")

        await loadBalancer.stopAccepting()
        try await group.shutdownGracefully()
    }
}
