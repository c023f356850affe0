import LoadBalancer
import Logging
import ServiceLifecycle

/// The listener set (the ALB front end) as a service: the listeners are bound before the group runs (see
/// ``AlbatrossApplication/startListeners()``), so that a port that cannot be bound is reported before anything
/// else starts; this service owns their graceful shutdown.
///
/// On graceful shutdown: stop accepting, wait (on an event, not a poll) until the requests in flight are answered
/// or `grace` has passed, then close every remaining connection. On cancellation it skips the wait.
struct ListenersService: Service {
    let loadBalancer: LoadBalancer
    let grace: Duration
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        await loadBalancer.stopAccepting()
        if !Task.isCancelled, !(await loadBalancer.drain(timeout: grace)) {
            logger.info("\(loadBalancer.requestsInFlight) request(s) still in flight after \(grace), closing them")
        }
        await loadBalancer.closeConnections()
    }
}
