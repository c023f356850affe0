import LambdaModel

/// The `Date` header value (RFC 9110 IMF-fixdate), cached per second.
struct HTTPDateCache {
    private var second: Int = -1
    private var value: String = ""

    mutating func current() -> String {
        let now = WallClock.epochSeconds()
        if now != second {
            second = now
            value = Self.format(epochSeconds: now)
        }
        return value
    }

    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    static func format(epochSeconds: Int) -> String {
        let d = CivilDate(epochSeconds: epochSeconds)
        return "\(days[d.weekday]), \(CivilDate.pad2(d.day)) \(months[d.month - 1]) \(d.year) "
            + "\(CivilDate.pad2(d.hour)):\(CivilDate.pad2(d.minute)):\(CivilDate.pad2(d.second)) GMT"
    }
}
