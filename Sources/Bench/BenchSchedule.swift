/// When a connection of an open-loop run sends its requests: `total` requests scheduled `interval` ns apart from
/// `start`, connection `j` of `connections` sending the scheduled requests `j`, `j + connections`, … (as wrk2
/// does). Each connection keeps its own count of what it sent, so no state is shared between connections.
public struct OpenLoopSchedule: Sendable, Equatable {
    public var start: Int64
    /// Nanoseconds between two scheduled requests (1e9 / rate).
    public var interval: Double
    public var total: Int
    public var connections: Int

    public init(start: Int64, rate: Double, seconds: Double, connections: Int) {
        self.start = start
        interval = 1e9 / rate
        total = Int((seconds * rate).rounded(.down))
        self.connections = max(1, min(connections, total))
    }

    /// The scheduled time of connection `connection`'s request number `sequence` (from 0), and its index in the
    /// whole schedule; nil past the end of the run.
    public func request(connection: Int, sequence: Int) -> (index: Int, at: Int64)? {
        let index = connection + sequence * connections
        guard connection < connections, index < total else { return nil }
        return (index, start + Int64(Double(index) * interval))
    }
}

/// What a run of ``BenchSocketClient`` sends: `count` requests as fast as the answers come (closed loop), or an
/// open-loop schedule.
public enum BenchClientSchedule: Sendable {
    case closed(count: Int)
    case open(OpenLoopSchedule)

    /// The connections the run uses at most: no more than it has requests.
    public func connections(_ requested: Int) -> Int {
        switch self {
        case .closed(let count): return max(1, min(requested, count))
        case .open(let schedule): return max(1, min(requested, schedule.connections))
        }
    }
}
