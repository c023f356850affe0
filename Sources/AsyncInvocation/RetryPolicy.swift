public import LambdaModel

/// The queue's decisions for one event, as a pure function of its state, the result of an attempt and the
/// function's event-invoke configuration, so that back-off times, the maximum age and the retry counts are tested
/// without a server or a clock.
///
/// AWS's rules (Lambda developer guide, "Asynchronous invocation"; control-api.md §5.26): a **function error**
/// (the code ran and failed: an exception, a crash, a timeout) is retried up to `MaximumRetryAttempts` times
/// (default 2), one minute after the first attempt and two minutes after the second. A **throttle** or a
/// **platform error** (nothing of the function ran) does not use up a retry: the event goes back to the queue
/// with an exponential back-off from 1 second up to 5 minutes. Either way an event older than
/// `MaximumEventAgeInSeconds` (default 6 hours) is discarded. Every time here is multiplied by `scale`
/// (`async.delayScale`, 1 by default) so that tests can run the same schedule in milliseconds.
public struct RetryPolicy: Sendable, Hashable {
    /// Multiplies every delay and the maximum event age.
    public var scale: Double

    public init(scale: Double = 1) {
        self.scale = scale
    }

    /// Seconds between a failed attempt and the next one, by the number of the failed attempt (1-based):
    /// 60 s after the first, 120 s after the second (unscaled).
    public static let functionErrorDelays: [Double] = [60, 120]
    /// The first back-off after a throttle or platform error, and the cap it doubles up to (unscaled).
    public static let throttleFirstDelay = 1.0
    public static let throttleMaximumDelay = 300.0

    /// What happened to one attempt.
    public enum Attempt: Sendable, Hashable {
        /// The function returned a result.
        case success
        /// The code ran and failed (an error, a crash, a timeout): counts as an invoke.
        case functionError
        /// Refused before the code ran (no concurrency left, the platform shutting down): not an invoke.
        case throttled
    }

    /// Why an event left the queue without success; the destination record's `requestContext.condition`.
    public enum Condition: String, Sendable, Hashable {
        case success = "Success"
        case retriesExhausted = "RetriesExhausted"
        case eventAgeExceeded = "EventAgeExceeded"
        /// The function's reserved concurrency is 0: the event is not attempted (or retried) at all.
        case zeroReservedConcurrency = "ZeroReservedConcurrency"
    }

    /// What the queue does next with the event.
    public enum Decision: Sendable, Hashable {
        /// Run it again at this time (seconds, the same clock as the event's times).
        case retry(at: Double)
        /// Done: delivered to the on-success destination (`.success`) or, for the other conditions, discarded
        /// after going to the on-failure destination and the dead-letter target.
        case finish(Condition)
    }

    /// One event's progress as the queue stores it.
    public struct Progress: Sendable, Hashable {
        /// When it was accepted (seconds).
        public var enqueuedAt: Double
        /// Attempts whose code ran (the destination record's `approximateInvokeCount`).
        public var invokeCount: Int
        /// Consecutive attempts refused before the code ran, for the exponential back-off.
        public var throttleCount: Int

        public init(enqueuedAt: Double, invokeCount: Int = 0, throttleCount: Int = 0) {
            self.enqueuedAt = enqueuedAt
            self.invokeCount = invokeCount
            self.throttleCount = throttleCount
        }
    }

    /// The maximum age in seconds, scaled.
    public func maximumAge(_ config: EventInvokeConfig) -> Double {
        Double(config.effectiveEventAgeSeconds) * scale
    }

    /// Whether the event is too old to be attempted `now`.
    public func isExpired(_ progress: Progress, config: EventInvokeConfig, now: Double) -> Bool {
        now - progress.enqueuedAt > maximumAge(config)
    }

    /// The delay (seconds, scaled) after the `invokeCount`-th failed invoke.
    public func functionErrorDelay(afterInvoke invokeCount: Int) -> Double {
        let delays = Self.functionErrorDelays
        return delays[min(max(invokeCount, 1), delays.count) - 1] * scale
    }

    /// The delay (seconds, scaled) after the `throttleCount`-th consecutive refusal: 1, 2, 4, … up to 300.
    public func throttleDelay(afterThrottle throttleCount: Int) -> Double {
        let exponent = Double(min(max(throttleCount, 1) - 1, 30))
        var delay = Self.throttleFirstDelay
        for _ in 0..<Int(exponent) { delay *= 2 }
        return min(delay, Self.throttleMaximumDelay) * scale
    }

    /// The new progress and the decision after an attempt that ended at `now`.
    public func next(
        after attempt: Attempt, progress: Progress, config: EventInvokeConfig, now: Double
    ) -> (Progress, Decision) {
        var progress = progress
        switch attempt {
        case .success:
            progress.invokeCount += 1
            progress.throttleCount = 0
            return (progress, .finish(.success))
        case .functionError:
            progress.invokeCount += 1
            progress.throttleCount = 0
            if progress.invokeCount > config.effectiveRetryAttempts { return (progress, .finish(.retriesExhausted)) }
            let at = now + functionErrorDelay(afterInvoke: progress.invokeCount)
            if at - progress.enqueuedAt > maximumAge(config) { return (progress, .finish(.eventAgeExceeded)) }
            return (progress, .retry(at: at))
        case .throttled:
            progress.throttleCount += 1
            let at = now + throttleDelay(afterThrottle: progress.throttleCount)
            if at - progress.enqueuedAt > maximumAge(config) { return (progress, .finish(.eventAgeExceeded)) }
            return (progress, .retry(at: at))
        }
    }
}
