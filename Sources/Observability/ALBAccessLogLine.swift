public import InvocationModel
import LambdaModel
public import NIOCore

/// Formats one ALB access-log line (observability.md §3.2–§3.3) from a front end's `responseWritten` event: the
/// 33 fields in AWS's order, quoted where AWS quotes them, with `-` and `-1` where AWS writes them for a Lambda
/// target. Pure, so that each field can be checked against hand-built events.
public enum ALBAccessLogLine {
    /// The line for `written` (emitted at `at`), or nil when the event carries no ``FrontEndRequest``.
    /// - Parameter elb: the load balancer's resource id, `app/<name>/<16 hex>`.
    public static func format(_ written: InvocationEvent.ResponseWritten, at: NIODeadline, elb: String) -> String? {
        guard let request = written.request else { return nil }
        var fields: [String] = []
        fields.reserveCapacity(33)
        fields.append(request.scheme)  // 1 type
        fields.append(iso8601(epochMicroseconds: responseEpochMicroseconds(request, at: at)))  // 2 time
        fields.append(elb)  // 3 elb
        fields.append("\(request.clientAddress):\(request.clientPort)")  // 4 client:port
        fields.append("-")  // 5 target:port: never an address for Lambda
        if let dispatched = request.dispatchedAt, let responded = request.targetRespondedAt {
            fields.append(seconds(dispatched - request.receivedAt))  // 6 request_processing_time
            fields.append(seconds(responded - dispatched))  // 7 target_processing_time
            fields.append(seconds(at - responded))  // 8 response_processing_time
        } else {
            fields.append(contentsOf: ["-1", "-1", "-1"])
        }
        fields.append(String(written.status))  // 9 elb_status_code
        fields.append(request.targetStatusCode.map(String.init) ?? "-")  // 10 target_status_code
        fields.append(String(request.receivedBytes))  // 11 received_bytes
        fields.append(String(request.sentBytes))  // 12 sent_bytes
        fields.append(quoted(request.requestLine))  // 13 "request"
        fields.append(quoted(request.userAgent.map(truncatedUserAgent)))  // 14 "user_agent"
        fields.append(request.tlsCipher ?? "-")  // 15 ssl_cipher
        fields.append(request.tlsProtocol ?? "-")  // 16 ssl_protocol
        fields.append(request.targetGroupARN ?? "-")  // 17 target_group_arn
        fields.append(quoted(request.traceID))  // 18 "trace_id"
        fields.append(quoted(request.serverName))  // 19 "domain_name"
        fields.append(quoted(request.certificateARN))  // 20 "chosen_cert_arn"
        fields.append(request.matchedRulePriority.map(String.init) ?? "-")  // 21 matched_rule_priority
        fields.append(iso8601(epochMicroseconds: request.requestCreationEpochMicroseconds))  // 22
        let actions = request.actionsExecuted.joined(separator: ",")
        fields.append(quoted(actions))  // 23 "actions_executed"
        fields.append(quoted(request.redirectURL))  // 24 "redirect_url"
        fields.append(quoted(written.albErrorReason))  // 25 "error_reason"
        fields.append(quoted(nil))  // 26 "target:port_list": `-` for Lambda
        fields.append(quoted(nil))  // 27 "target_status_code_list": `-` for Lambda, as in AWS's example
        fields.append(quoted(nil))  // 28 "classification": requests that reach here are RFC 7230-compliant
        fields.append(quoted(nil))  // 29 "classification_reason"
        fields.append(request.connectionTraceID)  // 30 conn_trace_id (unquoted)
        fields.append(quoted(nil))  // 31 "transformed_host": no rule transforms
        fields.append(quoted(nil))  // 32 "transformed_uri"
        fields.append(quoted(nil))  // 33 "request_transform_status"
        return fields.joined(separator: " ")
    }

    /// The wall-clock time of the line's `time` field: the request's wall-clock anchor plus the monotonic time
    /// from its arrival to the response.
    public static func responseEpochMicroseconds(_ request: FrontEndRequest, at: NIODeadline) -> Int64 {
        request.requestCreationEpochMicroseconds + max(0, (at - request.receivedAt).nanoseconds / 1000)
    }

    /// `"value"` with `\` and `"` escaped as `\\` and `\"`; `"-"` for nil or empty.
    public static func quoted(_ value: String?) -> String {
        guard let value, !value.isEmpty else { return "\"-\"" }
        var out = "\""
        out.reserveCapacity(value.utf8.count + 2)
        for character in value.unicodeScalars {
            switch character {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            default: out.unicodeScalars.append(character)
            }
        }
        out += "\""
        return out
    }

    /// ALB cuts user agents at 8 KB.
    static func truncatedUserAgent(_ agent: String) -> String {
        guard agent.utf8.count > 8192 else { return agent }
        return String(decoding: agent.utf8.prefix(8192), as: UTF8.self)
    }

    /// Seconds with three decimals, as AWS prints processing times (`0.041`).
    public static func seconds(_ amount: TimeAmount) -> String {
        let millis = max(0, (amount.nanoseconds + 500_000) / 1_000_000)
        let fraction = millis % 1000
        let digits = fraction < 10 ? "00\(fraction)" : fraction < 100 ? "0\(fraction)" : "\(fraction)"
        return "\(millis / 1000).\(digits)"
    }

    /// `2026-03-14T09:26:53.589793Z`
    public static func iso8601(epochMicroseconds: Int64) -> String {
        let seconds = epochMicroseconds >= 0 ? epochMicroseconds / 1_000_000 : (epochMicroseconds - 999_999) / 1_000_000
        let micros = Int(epochMicroseconds - seconds * 1_000_000)
        let d = CivilDate(epochSeconds: Int(seconds))
        let text = String(micros)
        let fraction = String(repeating: "0", count: 6 - text.count) + text
        return
            "\(d.year)-\(CivilDate.pad2(d.month))-\(CivilDate.pad2(d.day))T\(CivilDate.pad2(d.hour)):\(CivilDate.pad2(d.minute)):\(CivilDate.pad2(d.second)).\(fraction)Z"
    }
}
