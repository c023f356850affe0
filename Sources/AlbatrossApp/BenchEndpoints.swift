import AdminServer
import Environments
import Foundation
public import Invocation
public import InvocationModel
public import NIOCore
import ServiceLifecycle

/// Fresh environments on request, for cold starts measured on purpose (`albatross bench --cold`): in-process
/// through ``AlbatrossApplication/retireIdleEnvironments(function:)``, against a running server through the admin
/// listener's `POST /environments/retire-idle` (``BenchEndpoints``). One place for both, so that a cold sample
/// means the same in either.
public struct IdleRetirementError: Error, CustomStringConvertible {
    public var description: String
}

extension AlbatrossApplication {
    /// Stops the idle environments of `function` (every function when nil) and waits until none of its on-demand
    /// environments holds a slot, so that the next invoke starts a fresh one (``EnvironmentPool/stopIdleEnvironments()``:
    /// busy environments are not touched, nothing is killed mid-invoke; a busy one is waited for and stopped once
    /// idle). Provisioned environments are kept (the pool replaces them anyway): a version with provisioned
    /// concurrency serves its first invokes warm, as on AWS. Throws after `timeout` when environments are still
    /// there.
    public func retireIdleEnvironments(function: String?, timeout: TimeAmount = .seconds(30)) async throws {
        try await Self.retireIdle(invoker: invoker, function: function, timeout: timeout)
    }

    static func retireIdle(invoker: Invoker, function: String?, timeout: TimeAmount) async throws {
        let catalog = invoker.catalog.functions
        if let function, catalog[function] == nil { throw IdleRetirementError(description: "no function \(function)") }
        let pools = catalog.flatMap { name, entry -> [EnvironmentPool] in
            guard function == nil || function == name else { return [] }
            return entry.versions.keys.compactMap { invoker.pool(for: name, version: $0) }
        }
        let deadline = NIODeadline.now() + timeout
        // Again on every round: an environment busy at first (an extension still finishing the last invoke after
        // its result went out) is idle a moment later and must be stopped then, not only waited for.
        while pools.contains(where: { $0.counts.total - $0.provisionedCounts.allocated > 0 }) {
            for pool in pools { pool.stopIdleEnvironments() }
            if NIODeadline.now() > deadline {
                throw IdleRetirementError(
                    description:
                        "the environments of \(function ?? "the functions") did not stop within \(timeout.nanoseconds / 1_000_000_000) s"
                )
            }
            try await Task.sleep(nanoseconds: 2_000_000)
        }
    }
}

extension AlbatrossApplication {
    /// One invoke as `albatross bench` counts it, in-process and through the admin listener's `POST /invoke` alike:
    /// the outcome (`ok`, `functionError`, `timeout`, `throttled`, `failed`, the names of bench's `SampleOutcome`)
    /// and the error type.
    public static func benchInvoke(
        _ request: InvokeRequest, invoker: Invoker, on loop: any EventLoop
    ) async -> (outcome: String, errorType: String?) {
        do {
            let outcome = try await invoker.invoke(request, on: loop).get()
            let kind =
                outcome.errorType == "Sandbox.Timedout"
                ? "timeout" : outcome.functionError != nil ? "functionError" : "ok"
            return (kind, outcome.errorType)
        } catch let error as InvocationError {
            return (error.kind == .throttled ? "throttled" : "failed", "\(error.kind)")
        } catch {
            return ("failed", "\(type(of: error))")
        }
    }
}

/// The admin listener's part for `albatross bench --server`: `POST /environments/retire-idle` with
/// `{"function": "name"}` (or `{}` for every function) answers 200 `{"retired": true}` once the next invoke of the
/// function starts a fresh environment (see ``AlbatrossApplication/retireIdleEnvironments(function:timeout:)``),
/// 404 for an unknown function, 503 when busy environments did not finish within 30 s.
///
/// `POST /invoke/FUNCTION[:QUALIFIER]/REQUEST-ID` with the event as its body invokes through the server's own
/// invoker with that request id (bench's function targets, whose events it then finds in `/invocations/events`)
/// and answers 200 `{"outcome", "errorType"}` (``AlbatrossApplication/benchInvoke(_:invoker:on:)``). The admin
/// listener's request budget bounds the event (16 KB).
enum BenchEndpoints {
    struct Body: Decodable {
        var function: String?
    }

    static func invokeRoute(_ invoker: Invoker, group: any EventLoopGroup) -> AdminServer.Route {
        AdminServer.Route { request in
            let parts = request.path.split(separator: "/").map(String.init)
            guard parts.count == 3, request.method == "POST", !parts[2].isEmpty else {
                return WeightEndpoints.json(
                    400, ["message": "use POST /invoke/FUNCTION[:QUALIFIER]/REQUEST-ID with the event as the body"])
            }
            let receivedAt = NIODeadline.now()
            let target = parts[1].split(separator: ":", maxSplits: 1).map(String.init)
            let invoke = InvokeRequest(
                functionName: target[0], qualifier: target.count > 1 ? target[1] : nil,
                payload: ByteBuffer(string: request.body.isEmpty ? "{}" : request.body), requestID: parts[2],
                receivedAt: receivedAt)
            let (outcome, errorType) = await AlbatrossApplication.benchInvoke(
                invoke, invoker: invoker, on: group.next())
            return WeightEndpoints.json(
                200, ["outcome": outcome, "errorType": errorType.map { $0 as Any } ?? NSNull()])
        }
    }

    static func route(_ invoker: Invoker) -> AdminServer.Route {
        AdminServer.Route { request in
            guard request.path == "/environments/retire-idle" else {
                return WeightEndpoints.json(404, ["message": "not found: \(request.path)"])
            }
            guard request.method == "POST" else {
                return WeightEndpoints.json(405, ["message": "\(request.method) \(request.path): use POST"])
            }
            let text = request.body.trimmingCharacters(in: .whitespacesAndNewlines)
            guard let body = try? JSONDecoder().decode(Body.self, from: Data((text.isEmpty ? "{}" : text).utf8)) else {
                return WeightEndpoints.json(400, ["message": "the body must be {\"function\": \"name\"} or {}"])
            }
            if let function = body.function, invoker.catalog.functions[function] == nil {
                return WeightEndpoints.json(404, ["message": "no function \(function)"])
            }
            do {
                try await AlbatrossApplication.retireIdle(
                    invoker: invoker, function: body.function, timeout: .seconds(30))
                return WeightEndpoints.json(200, ["retired": true])
            } catch {
                return WeightEndpoints.json(503, ["message": "\(error)"])
            }
        }
    }
}

/// Runs the admin listener's ``InvocationEventFeed`` (its subscription and heartbeats) until graceful shutdown.
struct InvocationFeedService: Service {
    let feed: InvocationEventFeed

    func run() async throws {
        await cancelWhenGracefulShutdown { await feed.run() }
    }
}
