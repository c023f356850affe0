import Logging
import ServiceLifecycle

/// A listener beside the ALB ones (the admin listener, the control API) as a service: bound when the group runs
/// (or earlier: `start` returns the port it already has), reported with its URL, closed on graceful shutdown,
/// after the ALB listeners have drained (so a scrape or an API call during the drain still answers).
struct SideListenerService: Service {
    /// Binds, or returns the port already bound.
    let start: @Sendable () async throws -> Int
    let stop: @Sendable () async -> Void
    let host: String
    /// What the console says after the URL: `admin listener on http://127.0.0.1:9464 (GET /metrics, …)`.
    let name: String
    let detail: String
    let logger: Logger
    /// `https` for a listener with TLS.
    var scheme = "http"

    func run() async throws {
        let port = try await start()
        let shown = host.contains(":") ? "[\(host)]" : host
        logger.info("\(name) on \(scheme)://\(shown):\(port) (\(detail))")
        try? await gracefulShutdown()
        await stop()
    }
}
