import LambdaModel

/// Times as `albatross logs` reads and prints them: the stream files' ISO-8601 timestamps, `--since` values
/// (`aws logs tail`'s grammar) and the detailed output format.
public enum LogTime {
    /// Epoch milliseconds of a proleptic Gregorian UTC date and time (Howard Hinnant's days-from-civil).
    public static func epochMilliseconds(
        year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0, millisecond: Int = 0
    ) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = month > 2 ? month - 3 : month + 9
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = Int64(era) * 146_097 + Int64(doe) - 719_468
        return ((days * 86400) + Int64(hour * 3600 + minute * 60 + second)) * 1000 + Int64(millisecond)
    }

    /// An ISO-8601 date or date-time: `2026-12-01`, `2026-12-01T12:00`, `2026-12-01T12:00:05.123Z`,
    /// `2026-12-01 12:00:05+01:00`. Without an offset the time is UTC. nil when it is not one.
    public static func parseISO8601(_ text: String) -> Int64? {
        let bytes = Array(text.utf8)
        var index = 0
        func digits(_ count: Int) -> Int? {
            guard index + count <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[index..<(index + count)] {
                guard byte >= 48 && byte <= 57 else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            index += count
            return value
        }
        func expect(_ character: Character) -> Bool {
            guard index < bytes.count, bytes[index] == character.asciiValue! else { return false }
            index += 1
            return true
        }
        guard let year = digits(4), expect("-"), let month = digits(2), expect("-"), let day = digits(2),
            (1...12).contains(month), (1...31).contains(day)
        else { return nil }
        var hour = 0
        var minute = 0
        var second = 0
        var millisecond = 0
        var offsetSeconds = 0
        if index < bytes.count {
            guard bytes[index] == UInt8(ascii: "T") || bytes[index] == UInt8(ascii: " ") else { return nil }
            index += 1
            guard let h = digits(2), expect(":"), let m = digits(2), h < 24, m < 60 else { return nil }
            hour = h
            minute = m
            if expect(":") {
                guard let s = digits(2), s < 61 else { return nil }
                second = s
                if expect(".") || expect(",") {
                    var scale = 100
                    var any = false
                    while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 {
                        millisecond += Int(bytes[index] - 48) * scale
                        scale /= 10
                        index += 1
                        any = true
                    }
                    guard any else { return nil }
                }
            }
            if expect("Z") || expect("z") {
            } else if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                let sign = bytes[index] == UInt8(ascii: "+") ? 1 : -1
                index += 1
                guard let oh = digits(2), oh < 24 else { return nil }
                _ = expect(":")
                guard let om = digits(2), om < 60 else { return nil }
                offsetSeconds = sign * (oh * 3600 + om * 60)
            }
        }
        guard index == bytes.count else { return nil }
        return epochMilliseconds(
            year: year, month: month, day: day, hour: hour, minute: minute, second: second, millisecond: millisecond)
            - Int64(offsetSeconds) * 1000
    }

    /// `--since`: `<n>s|m|h|d|w` before `nowMs` (one unit, as `aws logs tail`), or an ISO-8601 time.
    public static func parseSince(_ text: String, nowMs: Int64) -> Int64? {
        if let unit = text.last, let count = Int64(text.dropLast()), count >= 0 {
            let seconds: Int64
            switch unit {
            case "s": seconds = 1
            case "m": seconds = 60
            case "h": seconds = 3600
            case "d": seconds = 86400
            case "w": seconds = 604_800
            default: return parseISO8601(text)
            }
            return nowMs - count * seconds * 1000
        }
        return parseISO8601(text)
    }

    /// `aws logs tail`'s detailed timestamp: `2026-12-01T12:00:05.123000+00:00`.
    public static func detailed(_ epochMs: Int64) -> String {
        let iso = CivilDate.iso8601(epochMilliseconds: epochMs)  // …:05.123Z
        return String(iso.dropLast()) + "000+00:00"
    }
}
