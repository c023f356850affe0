import AsyncInvocation
import LambdaModel
import Testing

/// The queue's pure decisions: AWS's back-off times, retry counts and maximum event age.
struct RetryPolicyTests {
    let policy = RetryPolicy()
    let defaults = EventInvokeConfig()

    @Test func functionErrorsAreRetriedTwiceAfterOneAndTwoMinutes() {
        var progress = RetryPolicy.Progress(enqueuedAt: 1000)
        var (next, decision) = policy.next(after: .functionError, progress: progress, config: defaults, now: 1001)
        #expect(next.invokeCount == 1)
        #expect(decision == .retry(at: 1061))
        progress = next
        (next, decision) = policy.next(after: .functionError, progress: progress, config: defaults, now: 1062)
        #expect(next.invokeCount == 2)
        #expect(decision == .retry(at: 1182))
        progress = next
        (next, decision) = policy.next(after: .functionError, progress: progress, config: defaults, now: 1183)
        #expect(next.invokeCount == 3, "approximateInvokeCount 3: the first attempt and two retries")
        #expect(decision == .finish(.retriesExhausted))
    }

    @Test func maximumRetryAttemptsBoundsTheInvokes() {
        for retries in 0...2 {
            let config = EventInvokeConfig(maximumRetryAttempts: retries)
            var progress = RetryPolicy.Progress(enqueuedAt: 0)
            var invokes = 0
            var now = 0.0
            while true {
                let (next, decision) = policy.next(after: .functionError, progress: progress, config: config, now: now)
                invokes += 1
                progress = next
                guard case .retry(let at) = decision else {
                    #expect(decision == .finish(.retriesExhausted))
                    break
                }
                now = at
            }
            #expect(invokes == retries + 1)
            #expect(progress.invokeCount == retries + 1)
        }
    }

    @Test func successFinishesAtOnceAndCountsTheInvoke() {
        let progress = RetryPolicy.Progress(enqueuedAt: 0, invokeCount: 1, throttleCount: 3)
        let (next, decision) = policy.next(after: .success, progress: progress, config: defaults, now: 61)
        #expect(decision == .finish(.success))
        #expect(next.invokeCount == 2)
        #expect(next.throttleCount == 0)
    }

    @Test func throttlesBackOffExponentiallyToFiveMinutesWithoutUsingRetries() {
        #expect(
            (1...12).map { policy.throttleDelay(afterThrottle: $0) } == [
                1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300,
            ])
        var progress = RetryPolicy.Progress(enqueuedAt: 0)
        var now = 0.0
        for expected in [1.0, 2, 4, 8] {
            let (next, decision) = policy.next(after: .throttled, progress: progress, config: defaults, now: now)
            #expect(decision == .retry(at: now + expected))
            #expect(next.invokeCount == 0, "a throttle is not an invoke")
            progress = next
            now += expected
        }
        // After throttles, a function error still has both retries, and the throttle back-off starts over.
        let (afterError, decision) = policy.next(after: .functionError, progress: progress, config: defaults, now: now)
        #expect(decision == .retry(at: now + 60))
        #expect(afterError.throttleCount == 0)
        #expect(policy.throttleDelay(afterThrottle: afterError.throttleCount + 1) == 1)
    }

    @Test func eventsOlderThanTheMaximumAgeAreDropped() {
        let config = EventInvokeConfig(maximumEventAgeInSeconds: 60)
        let progress = RetryPolicy.Progress(enqueuedAt: 100)
        #expect(!policy.isExpired(progress, config: config, now: 160))
        #expect(policy.isExpired(progress, config: config, now: 160.5))
        // A retry that would come after the maximum age is not scheduled.
        let (_, decision) = policy.next(after: .functionError, progress: progress, config: config, now: 101)
        #expect(decision == .finish(.eventAgeExceeded))
        // Throttled events are retried until they reach it.
        var throttled = progress
        var now = 100.0
        var final: RetryPolicy.Decision?
        while final == nil {
            let (next, decision) = policy.next(after: .throttled, progress: throttled, config: config, now: now)
            throttled = next
            switch decision {
            case .retry(let at): now = at
            case .finish: final = decision
            }
        }
        #expect(final == .finish(.eventAgeExceeded))
        #expect(now - 100 <= 60)
        #expect(throttled.throttleCount == 6, "1+2+4+8+16+32 = 63 > 60: the sixth back-off is past the age")
        // The default maximum age is six hours.
        #expect(policy.maximumAge(defaults) == 21_600)
    }

    @Test func theScaleMultipliesEveryTime() {
        let scaled = RetryPolicy(scale: 0.001)
        #expect(scaled.functionErrorDelay(afterInvoke: 1) == 0.06)
        #expect(scaled.functionErrorDelay(afterInvoke: 2) == 0.12)
        #expect(scaled.throttleDelay(afterThrottle: 1) == 0.001)
        #expect(abs(scaled.throttleDelay(afterThrottle: 20) - 0.3) < 1e-12)
        #expect(abs(scaled.maximumAge(EventInvokeConfig(maximumEventAgeInSeconds: 60)) - 0.06) < 1e-12)
        let (_, decision) = scaled.next(
            after: .functionError, progress: RetryPolicy.Progress(enqueuedAt: 5), config: EventInvokeConfig(), now: 5)
        #expect(decision == .retry(at: 5.06))
    }
}

/// Destination ARNs: which services can be destinations, and what each one names.
struct DestinationTargetTests {
    @Test func parsesEachKindOfDestination() {
        #expect(
            DestinationTarget.parse("arn:aws:lambda:us-east-1:123456789012:function:sink")
                == .function(name: "sink", qualifier: nil))
        #expect(
            DestinationTarget.parse("arn:aws:lambda:us-east-1:123456789012:function:sink:live")
                == .function(name: "sink", qualifier: "live"))
        #expect(
            DestinationTarget.parse("arn:aws:sqs:us-east-1:123456789012:q") == .outbox(service: "sqs", name: "q"))
        #expect(
            DestinationTarget.parse("arn:aws:sns:us-east-1:123456789012:topic")
                == .outbox(service: "sns", name: "topic"))
        #expect(
            DestinationTarget.parse("arn:aws:events:us-east-1:123456789012:event-bus/default")
                == .outbox(service: "events", name: "default"))
        #expect(DestinationTarget.parse("arn:aws:s3:::bucket") == .outbox(service: "s3", name: "bucket"))
        #expect(DestinationTarget.parse("arn:aws:s3:::bucket", forFailure: false) == nil, "S3 only on failure")
        #expect(DestinationTarget.parse("arn:aws:iam::123456789012:role/r") == nil)
        #expect(!DestinationTarget.isWellFormed("not-an-arn"))
        #expect(!DestinationTarget.isWellFormed("arn:aws:sqs:us-east-1:12345:q"), "the account has 12 digits")
        #expect(DestinationTarget.parse("arn:aws:sqs:us-east-1:123456789012:../x") == nil)
    }
}
