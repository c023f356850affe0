import InvocationModel
public import NIOCore

/// What the admin listener's `/status` shows of the running functions: every live execution environment with its
/// state, and the invocation counts since the server started. Taken from the same accounting of the event stream
/// as the metrics (``InvocationMetrics``), so `/status` and `/metrics` never disagree.
public struct InvocationStatus: Sendable, Codable, Equatable {
    /// One execution environment.
    public struct Environment: Sendable, Codable, Equatable {
        public var function: String
        public var version: String
        /// Its CloudWatch-style log stream (`2026/12/01/[$LATEST]<32 hex>`).
        public var logStream: String
        public var pid: Int32?
        /// `initializing` (INIT running), `ready` (waiting for an invoke), `busy` (running one) or `frozen` (waiting
        /// for one, its processes frozen: `environments.freezeIdle`).
        public var state: String
        public var ageSeconds: Double
        /// Since its last invoke finished (or since INIT started, before its first).
        public var idleSeconds: Double
        public var invocations: Int
    }

    /// Counts by function, resource (as invoked) and executed version, by the metrics' rules.
    public struct Totals: Sendable, Codable, Equatable {
        public var function: String
        /// `function:qualifier` as invoked; empty for an unqualified invoke.
        public var resource: String
        public var executedVersion: String
        public var invocations: Int
        public var errors: Int
        public var throttles: Int
        public var coldStarts: Int
    }

    public var environments: [Environment]
    public var totals: [Totals]
}

/// Counts of one label set, kept beside its Prometheus counters (``Series/Lambda/totals``); touched only under
/// the metrics lock.
final class InvocationTotals: @unchecked Sendable {
    var invocations = 0
    var errors = 0
    var throttles = 0
    var coldStarts = 0

    /// Whether anything was counted (a label set is made when an invoke resolves, before it is counted).
    var touched: Bool { invocations > 0 || throttles > 0 }

    func count(_ finished: InvocationEvent.InvokeFinished) {
        invocations += 1
        if finished.status != nil { errors += 1 }
        if finished.initDurationMs != nil { coldStarts += 1 }
    }
}

extension InvocationMetrics {
    /// The environments and counts now, sorted (function, version, stream; function, resource, version).
    public func status(now: NIODeadline = .now()) -> InvocationStatus {
        status { state, series in
            let environments = state.environments.values.map { environment in
                InvocationStatus.Environment(
                    function: environment.function, version: environment.version, logStream: environment.stream,
                    pid: environment.pid, state: environment.state.rawValue,
                    ageSeconds: Self.seconds(now - environment.createdAt),
                    idleSeconds: environment.state == .busy ? 0 : Self.seconds(now - environment.lastUsed),
                    invocations: environment.invocations)
            }
            let totals = series.lambda.filter { $0.value.totals.touched }.map { labels, lambda in
                let totals = lambda.totals
                return InvocationStatus.Totals(
                    function: labels.function, resource: labels.resource, executedVersion: labels.executedVersion,
                    invocations: totals.invocations, errors: totals.errors, throttles: totals.throttles,
                    coldStarts: totals.coldStarts)
            }
            return InvocationStatus(
                environments: environments.sorted {
                    ($0.function, $0.version, $0.logStream) < ($1.function, $1.version, $1.logStream)
                },
                totals: totals.sorted {
                    ($0.function, $0.resource, $0.executedVersion) < ($1.function, $1.resource, $1.executedVersion)
                })
        }
    }

    private static func seconds(_ amount: TimeAmount) -> Double {
        (Double(max(0, amount.nanoseconds)) / 1e6).rounded() / 1e3
    }
}
