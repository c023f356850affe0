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

    /// The children of `parent` that are runtimes or extensions, not the bwrap of an environment's sandbox (in the
    /// sandbox isolation mode each environment's bwrap is the server's child too, beside the processes that join it).
    public static func runtimeChildren(of parent: Int32? = nil) -> [Int32] {
        children(of: parent).filter { pid in
            (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) != "bwrap\n"
        }
    }

    /// Every process on the host whose command line (arguments joined with spaces) contains `marker`.
    public static func pids(commandLineContaining marker: String) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            return String(decoding: data, as: UTF8.self).replacingOccurrences(of: "\0", with: " ").contains(marker)
        }
    }

    /// Whether a process with this pid exists (zombies count as existing).
    public static func exists(_ pid: Int32) -> Bool {
        kill(pid, 0) == 0 || errno == EPERM
    }

    /// The state letter (`R`, `S`, `Z`, ...) and process group of a process; nil when there is none.
    public static func stat(_ pid: Int32) -> (state: Character, group: Int32)? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 2, let state = fields[0].first, let group = Int32(fields[2]) else { return nil }
        return (state, group)
    }

    /// Whether the process is gone or a zombie (one that whoever inherited it has not reaped yet): it runs no
    /// more either way.
    public static func isGone(_ pid: Int32) -> Bool {
        guard let stat = stat(pid) else { return true }
        return stat.state == "Z"
    }

    /// The processes of process group `group` that still run (zombies left out).
    public static func liveMembers(ofGroup group: Int32) -> [Int32] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        return entries.compactMap { entry -> Int32? in
            guard let pid = Int32(entry), let stat = stat(pid), stat.group == group, stat.state != "Z" else {
                return nil
            }
            return pid
        }
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
