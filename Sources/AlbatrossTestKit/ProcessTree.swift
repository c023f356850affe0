import Foundation

/// Looks at this process's children through /proc, to prove tests leave no process behind.
public enum ProcessTree {
    /// Pids whose parent is this process (zombies included).
    public static func children(of parent: Int32? = nil) -> [Int32] {
        let parent = parent ?? getpid()
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        var result: [Int32] = []
        for entry in entries {
            guard let pid = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8)
            else { continue }
            // Fields after the command name, which is in parentheses and may contain spaces.
            guard let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 1, Int32(fields[1]) == parent { result.append(pid) }
        }
        return result
    }

    /// Whether a process with this pid exists (zombies count as existing).
    public static func exists(_ pid: Int32) -> Bool {
        kill(pid, 0) == 0 || errno == EPERM
    }

    /// Waits up to `seconds` for `condition`.
    public static func wait(seconds: Double, until condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(20_000)
        }
        return condition()
    }
}
