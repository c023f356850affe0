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

    public static func epochMicroseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000
    }

    public static func epochSeconds() -> Int {
        Int(epochMilliseconds() / 1000)
    }

    /// `2026-11-28T15:30:00.123Z`
    public static func iso8601(epochMilliseconds: Int64 = WallClock.epochMilliseconds()) -> String {
        CivilDate.iso8601(epochMilliseconds: epochMilliseconds)
    }
}

/// A proleptic Gregorian UTC date from Unix time, without Foundation: the one calendar computation of the
/// project (log timestamps, stream names, HTTP dates, registry timestamps).
public struct CivilDate: Sendable, Hashable {
    public var year: Int
    public var month: Int
    public var day: Int
    public var hour: Int
    public var minute: Int
    public var second: Int
    /// 0 = Sunday.
    public var weekday: Int

    public init(epochSeconds: Int) {
        let days = epochSeconds >= 0 ? epochSeconds / 86400 : (epochSeconds - 86399) / 86400
        let secondsOfDay = epochSeconds - days * 86400
        hour = secondsOfDay / 3600
        minute = secondsOfDay % 3600 / 60
        second = secondsOfDay % 60
        weekday = ((days % 7) + 11) % 7  // 1970-01-01 was a Thursday
        // Howard Hinnant's days-to-civil algorithm.
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        day = doy - (153 * mp + 2) / 5 + 1
        month = mp < 10 ? mp + 3 : mp - 9
        year = yoe + era * 400 + (month <= 2 ? 1 : 0)
    }

    /// Two digits.
    public static func pad2(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }

    /// `2026-11-28T15:30:00.123Z`
    public static func iso8601(epochMilliseconds: Int64) -> String {
        let seconds = Int(epochMilliseconds / 1000)
        let millis = Int(epochMilliseconds % 1000)
        let d = CivilDate(epochSeconds: seconds)
        let ms = millis < 10 ? "00\(millis)" : millis < 100 ? "0\(millis)" : "\(millis)"
        return "\(d.year)-\(pad2(d.month))-\(pad2(d.day))T\(pad2(d.hour)):\(pad2(d.minute)):\(pad2(d.second)).\(ms)Z"
    }
}
