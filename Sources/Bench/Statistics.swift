import Foundation
import Routing
public import Histogram

/// A latency distribution as the report keeps it: the HDR histogram (microseconds, three significant digits)
/// and the figures read from it, so that a reader of the JSON can recompute any percentile.
public struct Distribution: Codable, Sendable, Hashable {
    public var count: Int
    /// Exact, from the samples (the histogram's own would be its bucket's bound).
    public var minMs: Double
    public var p50Ms: Double
    public var p90Ms: Double
    public var p99Ms: Double
    public var p999Ms: Double
    /// Exact, from the samples.
    public var maxMs: Double
    /// Exact, from the samples (not from the histogram's buckets).
    public var meanMs: Double
    public var stddevMs: Double
    /// The histogram's recorded values: `[microseconds, count]` pairs, ascending (each value is the highest
    /// value equivalent to its bucket, as HdrHistogram reports it).
    public var histogramMicroseconds: [[UInt64]]

    /// The distribution of `valuesMs` (milliseconds).
    public init(valuesMs: [Double]) {
        var histogram = Histogram<UInt64>(
            lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .three)
        for value in valuesMs {
            _ = histogram.record(UInt64(max(0, min(3_600_000_000, (value * 1000).rounded()))))
        }
        self.init(histogram: histogram, valuesMs: valuesMs)
    }

    /// From a filled histogram (microseconds); `valuesMs` gives the exact mean and standard deviation.
    public init(histogram: Histogram<UInt64>, valuesMs: [Double]) {
        count = Int(histogram.totalCount)
        func ms(_ microseconds: UInt64) -> Double { Double(microseconds) / 1000 }
        if count == 0 {
            (minMs, p50Ms, p90Ms, p99Ms, p999Ms, maxMs, meanMs, stddevMs) = (0, 0, 0, 0, 0, 0, 0, 0)
            histogramMicroseconds = []
            return
        }
        minMs = valuesMs.min() ?? ms(histogram.min)
        p50Ms = ms(histogram.valueAtPercentile(50))
        p90Ms = ms(histogram.valueAtPercentile(90))
        p99Ms = ms(histogram.valueAtPercentile(99))
        p999Ms = ms(histogram.valueAtPercentile(99.9))
        maxMs = valuesMs.max() ?? ms(histogram.max)
        let mean = valuesMs.reduce(0, +) / Double(max(1, valuesMs.count))
        meanMs = mean
        stddevMs =
            valuesMs.count > 1
            ? (valuesMs.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(valuesMs.count - 1)).squareRoot() : 0
        histogramMicroseconds = histogram.recordedValues().map { [$0.value, UInt64($0.count)] }
    }

    /// The recorded values, each repeated as often as it was recorded (milliseconds, ascending).
    public var expandedMs: [Double] {
        var values: [Double] = []
        values.reserveCapacity(count)
        for pair in histogramMicroseconds where pair.count == 2 {
            values.append(contentsOf: repeatElement(Double(pair[0]) / 1000, count: Int(pair[1])))
        }
        return values
    }
}

/// Significance tests for `bench compare`: is B's distribution shifted from A's, or is the difference noise?
public enum Significance {
    /// The two-sided Mann-Whitney U test (normal approximation with tie correction and continuity correction):
    /// no assumption about the distributions' shape, which latency distributions (skewed, multi-modal) need.
    /// Returns U of `a` and the p-value; p is 1 when either side is empty.
    public static func mannWhitney(_ a: [Double], _ b: [Double]) -> (u: Double, p: Double) {
        let n1 = Double(a.count)
        let n2 = Double(b.count)
        guard n1 > 0, n2 > 0 else { return (0, 1) }
        let sortedA = a.sorted()
        let sortedB = b.sorted()
        var i = 0
        var j = 0
        var rank = 0.0
        var rankSumA = 0.0
        var tieTerm = 0.0
        while i < sortedA.count || j < sortedB.count {
            let value = Swift.min(
                i < sortedA.count ? sortedA[i] : .infinity, j < sortedB.count ? sortedB[j] : .infinity)
            var countA = 0.0
            var countB = 0.0
            while i < sortedA.count && sortedA[i] == value {
                countA += 1
                i += 1
            }
            while j < sortedB.count && sortedB[j] == value {
                countB += 1
                j += 1
            }
            let tied = countA + countB
            let averageRank = rank + (tied + 1) / 2
            rankSumA += countA * averageRank
            rank += tied
            tieTerm += tied * tied * tied - tied
        }
        let n = n1 + n2
        let u = rankSumA - n1 * (n1 + 1) / 2
        let mean = n1 * n2 / 2
        let variance = n1 * n2 / 12 * ((n + 1) - tieTerm / (n * (n - 1)))
        guard variance > 0 else { return (u, 1) }
        let distance = Swift.max(0, abs(u - mean) - 0.5)
        let z = distance / variance.squareRoot()
        return (u, erfc(z / 2.0.squareRoot()))
    }

    /// A percentile-bootstrap confidence interval of median(b) − median(a), from `resamples` resamples with a
    /// fixed seed (the same inputs always give the same interval).
    public static func medianDifferenceInterval(
        _ a: [Double], _ b: [Double], confidence: Double = 0.95, resamples: Int = 400, seed: UInt64 = 0x5EED
    ) -> (low: Double, high: Double) {
        guard !a.isEmpty, !b.isEmpty else { return (0, 0) }
        var random = SplitMix64(seed: seed)
        var differences: [Double] = []
        differences.reserveCapacity(resamples)
        var scratchA = [Double](repeating: 0, count: a.count)
        var scratchB = [Double](repeating: 0, count: b.count)
        for _ in 0..<resamples {
            for k in 0..<a.count { scratchA[k] = a[Int(random.next() % UInt64(a.count))] }
            for k in 0..<b.count { scratchB[k] = b[Int(random.next() % UInt64(b.count))] }
            differences.append(select(&scratchB) - select(&scratchA))
        }
        differences.sort()
        let tail = (1 - confidence) / 2
        let low = differences[Swift.min(differences.count - 1, Int(Double(differences.count) * tail))]
        let high = differences[Swift.min(differences.count - 1, Int(Double(differences.count) * (1 - tail)))]
        return (low, high)
    }

    /// The median of `values` in linear expected time (reorders them; for an even count, the upper middle).
    static func select(_ values: inout [Double]) -> Double {
        let k = values.count / 2
        var low = 0
        var high = values.count - 1
        var random = SplitMix64(seed: UInt64(values.count))
        while low < high {
            let pivot = values[low + Int(random.next() % UInt64(high - low + 1))]
            var i = low
            var j = high
            while i <= j {
                while values[i] < pivot { i += 1 }
                while values[j] > pivot { j -= 1 }
                if i <= j {
                    values.swapAt(i, j)
                    i += 1
                    j -= 1
                }
            }
            if k <= j {
                high = j
            } else if k >= i {
                low = i
            } else {
                break
            }
        }
        return values[k]
    }

    /// The median of `values` (sorts them in place).
    public static func median(_ values: inout [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        values.sort()
        let middle = values.count / 2
        return values.count % 2 == 1 ? values[middle] : (values[middle - 1] + values[middle]) / 2
    }
}
