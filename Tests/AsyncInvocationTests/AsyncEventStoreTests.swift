import AlbatrossTestKit
import AsyncInvocation
import Foundation
import LambdaModel
import Testing

/// The durable queue and the outbox on a real disk.
struct AsyncEventStoreTests {
    func event(_ id: String, due: Double, function: String = "fn") -> AsyncEventStore.Event {
        AsyncEventStore.Event(
            id: id, function: function, qualifier: nil, payload: Array(#"{"n":1}"#.utf8),
            progress: RetryPolicy.Progress(enqueuedAt: due), nextAttemptAt: due)
    }

    @Test func eventsSurviveReopeningAndComeOutWhenDueInOrder() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        do {
            let store = try AsyncEventStore(dataDirectory: dir.path)
            try store.enqueue(event("b", due: 20))
            try store.enqueue(event("a", due: 10))
            try store.enqueue(event("c", due: 10))
        }
        let store = try AsyncEventStore(dataDirectory: dir.path)
        #expect(try store.count() == 3)
        #expect(try store.due(now: 15, excluding: [], limit: 10).map(\.id) == ["a", "c"])
        #expect(try store.due(now: 15, excluding: ["a"], limit: 10).map(\.id) == ["c"])
        #expect(try store.due(now: 30, excluding: [], limit: 2).map(\.id) == ["a", "c"])
        #expect(try store.nextDue(excluding: ["a", "c"]) == 20)
        try store.reschedule("a", progress: RetryPolicy.Progress(enqueuedAt: 10, invokeCount: 1), at: 40)
        let moved = try store.due(now: 50, excluding: [], limit: 10)
        #expect(moved.map(\.id) == ["c", "b", "a"])
        #expect(moved.last?.progress.invokeCount == 1)
        #expect(moved.last?.payload == Array(#"{"n":1}"#.utf8))
        try store.remove("c")
        #expect(try store.count() == 2)
    }

    @Test func configurationsAndDeadLetterTargets() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let store = try AsyncEventStore(dataDirectory: dir.path)
        #expect(try store.config(function: "fn", qualifier: "$LATEST") == nil)
        let config = EventInvokeConfig(maximumRetryAttempts: 1, onFailure: "arn:aws:sqs:us-east-1:123456789012:q")
        try store.putConfig(function: "fn", qualifier: "$LATEST", config, now: 5)
        try store.putConfig(function: "fn", qualifier: "live", EventInvokeConfig(maximumEventAgeInSeconds: 60), now: 6)
        #expect(try store.config(function: "fn", qualifier: "$LATEST")?.config == config)
        #expect(try store.configs(function: "fn").map(\.qualifier) == ["$LATEST", "live"])
        #expect(try store.deleteConfig(function: "fn", qualifier: "live"))
        #expect(try !store.deleteConfig(function: "fn", qualifier: "live"))
        try store.setDeadLetterTarget(function: "fn", "arn:aws:sns:us-east-1:123456789012:t")
        #expect(try store.deadLetterTarget(function: "fn") == "arn:aws:sns:us-east-1:123456789012:t")
        try store.setDeadLetterTarget(function: "fn", "")
        #expect(try store.deadLetterTarget(function: "fn") == nil)
    }

    @Test func theOutboxAppendsOneJSONLinePerMessage() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let outbox = Outbox(dataDirectory: dir.path)
        let arn = "arn:aws:sqs:us-east-1:123456789012:q"
        try outbox.append(service: "sqs", name: "q", targetArn: arn, body: #"{"a":"\n"}"#, messageID: "m1")
        try outbox.append(
            service: "sqs", name: "q", targetArn: arn, body: "x", attributes: [("RequestID", "r")], messageID: "m2")
        let text = try String(contentsOfFile: dir.url("outbox/sqs/q.jsonl"), encoding: .utf8)
        let lines = text.split(separator: "\n")
        #expect(lines.count == 2)
        let first = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect(first["MessageId"] as? String == "m1")
        #expect(first["TargetArn"] as? String == arn)
        #expect(first["Body"] as? String == #"{"a":"\n"}"#)
        let second = try #require(try JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as? [String: Any])
        #expect(second["Attributes"] as? [String: String] == ["RequestID": "r"])
        #expect(throws: Outbox.WriteError.self) {
            try outbox.append(service: "sqs", name: "..", targetArn: arn, body: "", messageID: "m3")
        }
    }

    @Test func theDestinationRecordHasAWSsShape() throws {
        let record = DestinationRecord(
            requestID: "r-1", functionArn: "arn:aws:lambda:us-east-1:123456789012:function:fn:$LATEST",
            condition: .retriesExhausted, approximateInvokeCount: 3, requestPayload: Array(#"{"n": 1}"#.utf8),
            response: .init(
                executedVersion: "$LATEST", functionError: "Unhandled",
                payload: Array(#"{"errorMessage":"boom","errorType":"ValueError"}"#.utf8)),
            timestamp: Date(timeIntervalSince1970: 1_573_755_365.568))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(record.json.utf8)) as? [String: Any])
        #expect(object["version"] as? String == "1.0")
        #expect(object["timestamp"] as? String == "2019-11-14T18:16:05.568Z")
        let context = try #require(object["requestContext"] as? [String: Any])
        #expect(context["requestId"] as? String == "r-1")
        #expect(context["condition"] as? String == "RetriesExhausted")
        #expect(context["approximateInvokeCount"] as? Int == 3)
        #expect(object["requestPayload"] as? [String: Int] == ["n": 1])
        let response = try #require(object["responseContext"] as? [String: Any])
        #expect(response["statusCode"] as? Int == 200)
        #expect(response["executedVersion"] as? String == "$LATEST")
        #expect(response["functionError"] as? String == "Unhandled")
        #expect((object["responsePayload"] as? [String: String])?["errorMessage"] == "boom")
        // Never attempted: no response members; a payload that is not JSON is a string.
        let aged = DestinationRecord(
            requestID: "r-2", functionArn: "a", condition: .eventAgeExceeded, approximateInvokeCount: 0,
            requestPayload: Array("plain".utf8), response: nil, timestamp: Date())
        let agedObject = try #require(try JSONSerialization.jsonObject(with: Data(aged.json.utf8)) as? [String: Any])
        #expect(agedObject["requestPayload"] as? String == "plain")
        #expect(agedObject["responseContext"] == nil && agedObject["responsePayload"] == nil)
    }
}
