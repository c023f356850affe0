public import Foundation
import LambdaModel

/// The document Lambda sends to a destination after an asynchronous invocation (control-api.md §5.26):
/// `version`, `timestamp`, `requestContext` {`requestId`, `functionArn`, `condition`, `approximateInvokeCount`},
/// `requestPayload`, `responseContext` {`statusCode`, `executedVersion`, `functionError`} and `responsePayload`.
///
/// Payloads that are JSON are embedded as JSON, anything else as a JSON string. When no attempt ran (an event
/// that grew too old in the queue) the response members are left out.
public struct DestinationRecord: Sendable, Hashable {
    public var requestID: String
    /// The qualified ARN of what ran (`…:function:name:$LATEST`, `…:name:live`).
    public var functionArn: String
    public var condition: RetryPolicy.Condition
    public var approximateInvokeCount: Int
    public var requestPayload: [UInt8]
    public var response: Response?
    public var timestamp: Date

    /// The last attempt's answer.
    public struct Response: Sendable, Hashable {
        public var statusCode: Int
        public var executedVersion: String
        public var functionError: String?
        public var payload: [UInt8]

        public init(statusCode: Int = 200, executedVersion: String, functionError: String?, payload: [UInt8]) {
            self.statusCode = statusCode
            self.executedVersion = executedVersion
            self.functionError = functionError
            self.payload = payload
        }
    }

    public init(
        requestID: String, functionArn: String, condition: RetryPolicy.Condition, approximateInvokeCount: Int,
        requestPayload: [UInt8], response: Response?, timestamp: Date
    ) {
        self.requestID = requestID
        self.functionArn = functionArn
        self.condition = condition
        self.approximateInvokeCount = approximateInvokeCount
        self.requestPayload = requestPayload
        self.response = response
        self.timestamp = timestamp
    }

    /// `2019-11-14T18:16:05.568Z`, as AWS writes the record's timestamp.
    public static func timestamp(_ date: Date) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        var seconds = time_t(milliseconds / 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let millis = milliseconds % 1000
        let fraction = millis < 10 ? "00\(millis)" : millis < 100 ? "0\(millis)" : "\(millis)"
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):"
            + "\(two(parts.tm_min)):\(two(parts.tm_sec)).\(fraction)Z"
    }

    /// The payload as a JSON value's text: itself when it is JSON, else a quoted string.
    static func embedded(_ payload: [UInt8]) -> String {
        if payload.isEmpty { return "null" }
        if (try? JSONSerialization.jsonObject(with: Data(payload), options: [.fragmentsAllowed])) != nil,
            let text = String(bytes: payload, encoding: .utf8)
        {
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        var quoted = ""
        JSONText.appendQuoted(String(decoding: payload, as: UTF8.self), to: &quoted)
        return quoted
    }

    /// The record's JSON text.
    public var json: String {
        var text = "{\"version\":\"1.0\",\"timestamp\":"
        JSONText.appendQuoted(Self.timestamp(timestamp), to: &text)
        text += ",\"requestContext\":{\"requestId\":"
        JSONText.appendQuoted(requestID, to: &text)
        text += ",\"functionArn\":"
        JSONText.appendQuoted(functionArn, to: &text)
        text += ",\"condition\":"
        JSONText.appendQuoted(condition.rawValue, to: &text)
        text += ",\"approximateInvokeCount\":\(approximateInvokeCount)}"
        text += ",\"requestPayload\":" + Self.embedded(requestPayload)
        if let response {
            text += ",\"responseContext\":{\"statusCode\":\(response.statusCode),\"executedVersion\":"
            JSONText.appendQuoted(response.executedVersion, to: &text)
            if let functionError = response.functionError {
                text += ",\"functionError\":"
                JSONText.appendQuoted(functionError, to: &text)
            }
            text += "},\"responsePayload\":" + Self.embedded(response.payload)
        }
        text += "}"
        return text
    }
}
