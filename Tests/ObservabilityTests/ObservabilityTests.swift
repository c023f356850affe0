import Foundation
import Testing

@testable import InvocationModel
import LambdaModel
@testable import Observability

/// The date and number formatting of log lines and stream names, checked against fixed vectors and against the C
/// library's `gmtime_r` (the writer thread and its files are the log sink's business, not tested here).
struct CivilDateTests {
    @Test(arguments: [
        (0, 1970, 1, 1, 0, 0, 0),
        (-1, 1969, 12, 31, 23, 59, 59),
        (951_782_400, 2000, 2, 29, 0, 0, 0),  // a leap day in a century year divisible by 400
        (951_868_799, 2000, 2, 29, 23, 59, 59),
        (4_107_542_399, 2100, 2, 28, 23, 59, 59),  // 2100 is not a leap year
        (4_107_542_400, 2100, 3, 1, 0, 0, 0),
        (1_795_962_600, 2026, 11, 29, 14, 30, 0),
        (-62_135_596_800, 1, 1, 1, 0, 0, 0),
        (253_402_300_799, 9999, 12, 31, 23, 59, 59),
    ])
    func knownInstants(seconds: Int, year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) {
        let date = CivilDate(epochSeconds: seconds)
        let fields: [Int] = [date.year, date.month, date.day, date.hour, date.minute, date.second]
        #expect(fields == [year, month, day, hour, minute, second])
    }

    /// Every 86 400 + 7919 seconds over 1901–2099 (so every day of the year and time of day comes up), compared
    /// with the C library.
    @Test func agreesWithGmtimeOverTwoCenturies() {
        var mismatches: [Int] = []
        var seconds = -2_145_916_800  // 1902-01-01
        while seconds < 4_102_444_800 {  // 2100-01-01
            var time = time_t(seconds)
            var parts = tm()
            gmtime_r(&time, &parts)
            let date = CivilDate(epochSeconds: seconds)
            let expected = [
                Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday), Int(parts.tm_hour),
                Int(parts.tm_min), Int(parts.tm_sec),
            ]
            let fields: [Int] = [date.year, date.month, date.day, date.hour, date.minute, date.second]
            if fields != expected {
                mismatches.append(seconds)
            }
            seconds += 86_400 + 7_919
        }
        #expect(mismatches.isEmpty, "first mismatches: \(mismatches.prefix(5))")
    }

    @Test func iso8601HasMillisecondsAndAZ() {
        #expect(WallClock.iso8601(epochMilliseconds: 0) == "1970-01-01T00:00:00.000Z")
        #expect(WallClock.iso8601(epochMilliseconds: 1_795_962_600_007) == "2026-11-29T14:30:00.007Z")
        #expect(WallClock.iso8601(epochMilliseconds: 1_795_962_600_042) == "2026-11-29T14:30:00.042Z")
        #expect(WallClock.iso8601(epochMilliseconds: 951_868_799_999) == "2000-02-29T23:59:59.999Z")
        #expect(CivilDate.iso8601(epochMilliseconds: 4_107_542_400_100) == "2100-03-01T00:00:00.100Z")
    }

    @Test func wallClockReadsTheRealtimeClock() {
        let before = Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
        let milliseconds = WallClock.epochMilliseconds()
        let seconds = WallClock.epochSeconds()
        let after = Int64((Date().timeIntervalSince1970 * 1000).rounded(.up))
        #expect(before <= milliseconds && milliseconds <= after)
        #expect(Int64(seconds) >= milliseconds / 1000 && Int64(seconds) <= after / 1000)
        let now = WallClock.iso8601()
        #expect(now.wholeMatch(of: #/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z/#) != nil, "\(now)")
    }
}

struct LogLineTests {
    @Test func streamNamesFollowAWS() {
        let hex = "00501d06e016bc981403e26ed0fa0b81"
        let latest = LogStreamName(
            functionName: "hello", version: "$LATEST", epochSeconds: 1_795_962_600, hex: hex, id: 1)
        #expect(latest.groupName == "/aws/lambda/hello")
        #expect(latest.streamName == "2026/11/29/[$LATEST]\(hex)")
        #expect(latest.description == "/aws/lambda/hello 2026/11/29/[$LATEST]\(hex)")
        let published = LogStreamName(functionName: "f", version: "12", epochSeconds: 0, hex: hex, id: 2)
        #expect(published.streamName == "1970/01/01/[12]\(hex)", "months and days have two digits")
        #expect(published != latest)
    }

    @Test(arguments: [
        (0.0, "0.00"), (0.004, "0.00"), (0.005, "0.01"), (1.08, "1.08"), (5.1, "5.10"), (12.3456, "12.35"),
        (0.999, "1.00"), (1000, "1000.00"), (3_000.5, "3000.50"),
    ])
    func millisecondsHaveTwoDecimals(value: Double, text: String) {
        #expect(formatMilliseconds(value) == text)
    }

    @Test func reportLinesAreTabSeparatedWithATrailingTab() {
        var fields = ReportFields(
            requestID: "40a0f4cd-1814-4fab-932f-e5679a2bdc25", durationMs: 1.084, billedDurationMs: 47,
            memorySizeMB: 128, initDurationMs: 45.08, status: nil, pid: nil)
        #expect(
            fields.line(maxMemoryUsedMB: 14)
                == "REPORT RequestId: 40a0f4cd-1814-4fab-932f-e5679a2bdc25\tDuration: 1.08 ms\tBilled Duration: 47 ms\t"
                + "Memory Size: 128 MB\tMax Memory Used: 14 MB\tInit Duration: 45.08 ms\t")
        fields.initDurationMs = nil
        fields.status = "timeout"
        fields.durationMs = 3000
        fields.billedDurationMs = 3000
        #expect(
            fields.line(maxMemoryUsedMB: 20)
                == "REPORT RequestId: 40a0f4cd-1814-4fab-932f-e5679a2bdc25\tDuration: 3000.00 ms\t"
                + "Billed Duration: 3000 ms\tMemory Size: 128 MB\tMax Memory Used: 20 MB\tStatus: timeout\t")
    }
}
