import Glibc

/// `Max Memory Used` of an environment without a memory control group (what a consumer of ``InvocationEvent`` reads
/// for an `invokeFinished` with a `pid` and no peak file: the log sink, the Telemetry hub): the peak resident set
/// (VmHWM) of its runtime and of every process below it, summed. Lambda reports the whole execution environment's peak; with a
/// group that is the group's own counter (`memory.peak`, v1 `memory.max_usage_in_bytes`), which counts everything
/// that ever ran in it. This fallback sees only what is alive when it is read: a child that allocated and exited
/// between two readings is missed, and the sum of peaks reached at different times (or of pages shared after a
/// fork) can be more than the tree ever held at once. Blocking (reads `/proc`), cheap: one `status` file and one
/// `children` file per thread of each process.
public enum ProcessTreeMemory {
    /// At most this many processes are read (a fork bomb's tree is not walked to its end).
    static let maximumProcesses = 256

    /// The summed VmHWM of `root` and its descendants in MB, rounded up; nil when `root` is gone.
    public static func peakResidentMB(root: Int32) -> Int? {
        sumOverTree(root: root, peakResidentKB).map { ($0 + 1023) / 1024 }
    }

    /// What `root` and its descendants hold now that the kernel could not reclaim, in kB: the summed resident
    /// anonymous and shared memory (`RssAnon` + `RssShmem`), the part of a memory control group's charge that
    /// cannot be dropped from the page cache. Pages shared after a fork count in every process that has them. nil
    /// when `root` is gone. What ``MemoryWatch`` compares with MemorySize.
    public static func unreclaimableResidentKB(root: Int32) -> Int? {
        sumOverTree(root: root) { pid in
            let buffer = readSmallFile("/proc/\(pid)/status")
            guard let anonymous = field(anonymousKey, in: buffer) else { return nil }
            return anonymous + (field(sharedKey, in: buffer) ?? 0)
        }
    }

    /// `value` of `root` plus that of each of its descendants (0 for one that is gone by then); nil when `root`
    /// has none.
    static func sumOverTree(root: Int32, _ value: (Int32) -> Int?) -> Int? {
        guard let rootValue = value(root) else { return nil }
        var total = rootValue
        var pending = children(of: root)
        var seen = 1
        while let pid = pending.popLast(), seen < maximumProcesses {
            seen += 1
            total += value(pid) ?? 0
            pending += children(of: pid)
        }
        return total
    }

    /// The children of every thread of `pid` (`/proc/<pid>/task/<tid>/children`, space-separated pids).
    static func children(of pid: Int32) -> [Int32] {
        guard let tasks = opendir("/proc/\(pid)/task") else { return [] }
        defer { closedir(tasks) }
        var found: [Int32] = []
        while let entry = readdir(tasks) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard let tid = Int32(name) else { continue }
            let bytes = readSmallFile("/proc/\(pid)/task/\(tid)/children")
            var value: Int32 = 0
            var inNumber = false
            for byte in bytes {
                if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                    value = value &* 10 &+ Int32(byte - 48)
                    inNumber = true
                } else if inNumber {
                    found.append(value)
                    value = 0
                    inNumber = false
                }
            }
            if inNumber { found.append(value) }
        }
        return found
    }

    /// VmHWM of a live process in kB, or nil when it is gone (or has no memory of its own, a zombie). Parses the
    /// bytes of `/proc/<pid>/status` without building strings.
    static func peakResidentKB(pid: Int32) -> Int? {
        field(peakKey, in: readSmallFile("/proc/\(pid)/status"))
    }

    private static let peakKey = Array("VmHWM:".utf8)
    private static let anonymousKey = Array("RssAnon:".utf8)
    private static let sharedKey = Array("RssShmem:".utf8)

    /// The number on the line of a `status` file that starts with `key` (`VmHWM:      1234 kB`); nil without one.
    static func field(_ key: [UInt8], in buffer: [UInt8]) -> Int? {
        let count = buffer.count
        var index = 0
        while index + key.count < count {
            if buffer[index] == key[0] && Array(buffer[index..<(index + key.count)]) == key {
                var kb = 0
                var position = index + key.count
                while position < count && buffer[position] != UInt8(ascii: "\n") {
                    let byte = buffer[position]
                    if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") { kb = kb * 10 + Int(byte - 48) }
                    position += 1
                }
                return kb
            }
            // Skip to the next line.
            while index < count && buffer[index] != UInt8(ascii: "\n") { index += 1 }
            index += 1
        }
        return nil
    }

    /// The first 4 kB of a `/proc` file; empty when it cannot be read.
    private static func readSmallFile(_ path: String) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        return count > 0 ? Array(buffer[..<count]) : []
    }
}
