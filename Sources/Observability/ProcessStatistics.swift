import Foundation

/// This process's resident memory and open descriptors, read from `/proc/self` when metrics are scraped (Linux;
/// nil elsewhere). Blocking file reads: never call it on an event loop.
struct ProcessStatistics {
    var residentMemoryBytes: Int?
    var openDescriptors: Int?

    static func read() -> ProcessStatistics {
        ProcessStatistics(residentMemoryBytes: residentMemory(), openDescriptors: descriptors())
    }

    /// `/proc/self/statm`'s second field (resident pages) times the page size.
    static func residentMemory() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// Entries of `/proc/self/fd`, less the one the listing itself holds open.
    static func descriptors() -> Int? {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return nil }
        return max(0, entries.count - 1)
    }
}
