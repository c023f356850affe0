import InvocationModel
import Testing

@testable import Observability

/// The asynchronous-invocation series from the queue's `async` events (observability.md §6.2, label set `fn`).
struct AsyncMetricsTests {
    @Test func asyncEventsAreCountedByFunctionAndResource() {
        let metrics = InvocationMetrics()
        func event(_ id: String, _ qualifier: String?, _ stage: InvocationEvent.Async.Stage) -> InvocationEvent {
            InvocationEvent(requestID: id, detail: .async(.init(function: "fn", qualifier: qualifier, stage: stage)))
        }
        metrics.receive([
            event("a", nil, .received), event("a", nil, .attempted(ageMs: 5)), event("a", nil, .attempted(ageMs: 250)),
            event("a", nil, .dropped(reason: "RetriesExhausted")),
            event("a", nil, .deadLetterFailed(target: "arn:aws:sqs:us-east-1:123456789012:q")),
            event("b", "live", .received), event("b", "live", .dropped(reason: "EventAgeExceeded")),
            event("b", "live", .destinationFailed(target: "arn:aws:lambda:us-east-1:123456789012:function:x")),
        ])
        let samples = InvocationMetricsTests.samples(metrics.exposition())
        let plain = #"function="fn",resource="""#
        let live = #"function="fn",resource="fn:live""#
        #expect(samples["albatross_lambda_async_events_received_total{\(plain)}"] == 1)
        #expect(samples["albatross_lambda_async_events_received_total{\(live)}"] == 1)
        #expect(samples["albatross_lambda_async_event_age_seconds_count{\(plain)}"] == 2)
        #expect(samples["albatross_lambda_async_event_age_seconds_sum{\(plain)}"] == 0.255)
        #expect(samples["albatross_lambda_async_events_dropped_total{\(plain),reason=\"RetriesExhausted\"}"] == 1)
        #expect(samples["albatross_lambda_async_events_dropped_total{\(live),reason=\"EventAgeExceeded\"}"] == 1)
        #expect(samples["albatross_lambda_dead_letter_errors_total{\(plain)}"] == 1)
        #expect(samples["albatross_lambda_dead_letter_errors_total{\(live)}"] == 0)
        #expect(samples["albatross_lambda_destination_delivery_failures_total{\(live)}"] == 1)
        #expect(samples["albatross_lambda_destination_delivery_failures_total{\(plain)}"] == 0)
    }
}
