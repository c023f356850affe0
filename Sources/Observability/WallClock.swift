#if canImport(Glibc)
    import Glibc
#endif

/// Wall-clock time for log lines, deadlines and trace ids: one place that reads `CLOCK_REALTIME` and formats
/// it the way AWS prints timestamps.
public enum WallClock {
    public static func epochMilliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    public static func epochSeconds() -> Int {
        Int(epochMilliseconds() / 1000)
    }

    /// `2026-11-28T15:30:00.123Z`
    public static func iso8601(epochMilliseconds: Int64 = WallClock.epochMilliseconds()) -> String {
        CivilDate.iso8601(epochMilliseconds: epochMilliseconds)
    }
}
