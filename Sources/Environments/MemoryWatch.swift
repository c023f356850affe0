import Foundation
import InvocationModel
import NIOConcurrencyHelpers

/// MemorySize for environments without a memory control group (no usable cgroup, a server that is not root, or
/// cgroup v2 without its memory controller): every ``interval`` one thread reads what each running environment's
/// processes hold (``ProcessTreeMemory/unreclaimableResidentKB(root:)``: resident anonymous and shared memory, what
/// a memory group could not reclaim) and reports an environment over its limit once, which then kills its tree as
/// the kernel's OOM killer would (`Runtime.OutOfMemory`, the environment replaced).
///
/// It samples, so it acts late: up to an interval (plus a read) after the limit was crossed, and a peak that comes
/// and goes between two readings is missed. The address-space limit (``EnvironmentSpec/addressSpaceLimitBytes``)
/// stays as the backstop for an allocation too fast or too large for it. Only environments marked active are read
/// (not frozen ones, whose memory cannot change), so idle environments cost it nothing; the thread runs only while
/// something is watched.
public final class MemoryWatch: Sendable {
    /// The one watch of the server's environments.
    public static let shared = MemoryWatch(interval: .milliseconds(50))

    /// How often the environments are read.
    public let interval: Duration

    /// One watched environment.
    public struct Token: Hashable, Sendable {
        let id: Int
    }

    /// What the environment is told when it went over: what its processes held (kB) and their summed peak
    /// (VmHWM, MB), read at that moment.
    public struct Exceeded: Sendable {
        public var residentKB: Int
        public var peakMB: Int
    }

    private struct Watched {
        var limitKB: Int
        var roots: [Int32] = []
        var active = true
        var exceeded: @Sendable (Exceeded) -> Void
    }

    private struct State {
        var watched: [Int: Watched] = [:]
        var nextID = 0
        var running = false
    }

    private let state = NIOLockedValueBox(State())

    init(interval: Duration) {
        self.interval = interval
    }

    /// Starts watching an environment with no process yet; `exceeded` is called once, on the watch's thread, when
    /// its processes hold more than `limitBytes`, and the environment is no longer watched after that.
    public func watch(limitBytes: UInt64, exceeded: @escaping @Sendable (Exceeded) -> Void) -> Token {
        let (token, start) = state.withLockedValue { state -> (Token, Bool) in
            let id = state.nextID
            state.nextID += 1
            state.watched[id] = Watched(limitKB: Int(limitBytes / 1024), exceeded: exceeded)
            let start = !state.running
            state.running = true
            return (Token(id: id), start)
        }
        if start { startThread() }
        return token
    }

    /// A process of the environment (its runtime, an extension): it and its descendants count.
    public func add(root pid: Int32, to token: Token) {
        state.withLockedValue { $0.watched[token.id]?.roots.append(pid) }
    }

    /// A process that exited.
    public func remove(root pid: Int32, from token: Token) {
        state.withLockedValue { $0.watched[token.id]?.roots.removeAll { $0 == pid } }
    }

    /// Frozen environments are not read (`active` false), thawed ones again.
    public func setActive(_ active: Bool, _ token: Token) {
        state.withLockedValue { $0.watched[token.id]?.active = active }
    }

    /// The environment ended.
    public func end(_ token: Token) {
        state.withLockedValue { _ = $0.watched.removeValue(forKey: token.id) }
    }

    /// How many environments are watched, and whether the thread runs (for tests).
    var watchedCount: Int { state.withLockedValue { $0.watched.count } }
    var isRunning: Bool { state.withLockedValue { $0.running } }

    private func startThread() {
        let thread = Thread { [self] in run() }
        thread.name = "albatross-memory-watch"
        thread.stackSize = 256 * 1024
        thread.start()
    }

    /// The thread: reads the active environments every interval; ends once nothing is watched.
    private func run() {
        let sleepMicroseconds =
            useconds_t(interval.components.attoseconds / 1_000_000_000_000)
            + useconds_t(interval.components.seconds) * 1_000_000
        while true {
            let due = state.withLockedValue { state -> [(Int, Watched)]? in
                if state.watched.isEmpty {
                    state.running = false
                    return nil
                }
                return state.watched.filter { $0.value.active && !$0.value.roots.isEmpty }.map { ($0.key, $0.value) }
            }
            guard let due else { return }
            for (id, watched) in due {
                let residentKB = watched.roots.reduce(0) {
                    $0 + (ProcessTreeMemory.unreclaimableResidentKB(root: $1) ?? 0)
                }
                guard residentKB > watched.limitKB else { continue }
                // Told once: only if it is still watched (it may have ended meanwhile).
                guard state.withLockedValue({ $0.watched.removeValue(forKey: id) }) != nil else { continue }
                let peakMB = watched.roots.reduce(0) { $0 + (ProcessTreeMemory.peakResidentMB(root: $1) ?? 0) }
                watched.exceeded(Exceeded(residentKB: residentKB, peakMB: peakMB))
            }
            usleep(sleepMicroseconds)
        }
    }
}
