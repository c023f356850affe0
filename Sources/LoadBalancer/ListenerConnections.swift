import Foundation
import NIOConcurrencyHelpers

/// The connection counts of one listener and its bound on concurrent connections.
///
/// It exists so that a flood of connections (slowloris, a runaway client) cannot use up the process's file
/// descriptors: a connection over the bound is accepted and closed at once. The counts are what an ALB reports as
/// `ActiveConnectionCount`, `NewConnectionCount` and `RejectedConnectionCount`; they are kept here, in one small
/// thread-safe place per listener, for a metrics exporter to read (``snapshot``).
public final class ListenerConnections: Sendable {
    /// The counts at one instant.
    public struct Snapshot: Sendable, Hashable {
        /// Connections open now (`ActiveConnectionCount`).
        public var active: Int
        /// Connections admitted since the listener started (`NewConnectionCount`).
        public var accepted: Int
        /// Connections closed at once because the listener was at its bound (`RejectedConnectionCount`).
        public var rejected: Int

        public init(active: Int, accepted: Int, rejected: Int) {
            self.active = active
            self.accepted = accepted
            self.rejected = rejected
        }
    }

    /// Most connections open at once.
    public let limit: Int
    private let counts = NIOLockedValueBox(Snapshot(active: 0, accepted: 0, rejected: 0))

    public init(limit: Int) {
        self.limit = max(1, limit)
    }

    public var snapshot: Snapshot { counts.withLockedValue { $0 } }

    /// Counts a new connection. Returns false (counting it as rejected) when the listener is at its bound; the
    /// caller then closes it. An admitted connection is released with ``release()`` when it closes.
    func admit() -> Bool {
        counts.withLockedValue { counts in
            guard counts.active < limit else {
                counts.rejected += 1
                return false
            }
            counts.active += 1
            counts.accepted += 1
            return true
        }
    }

    func release() {
        counts.withLockedValue { $0.active -= 1 }
    }

    /// The default bound when the configuration sets none: 4096 per listener, lowered so that all listeners
    /// together stay 256 descriptors under the process's soft `RLIMIT_NOFILE` (runtimes, log files and the
    /// Runtime API need the rest), and never under 16.
    public static func defaultLimit(listenerCount: Int) -> Int {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < rlim_t(Int.max)
        else {
            return 4096
        }
        let available = Int(clamping: limit.rlim_cur) - 256
        return max(16, min(4096, available / max(1, listenerCount)))
    }
}
