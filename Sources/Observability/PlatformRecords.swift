import Foundation
import InvocationModel
import LambdaModel

/// The platform's records in the JSON log format (runtime-api.md §4.3): `{"time","type","record"}` with the
/// Telemetry API's field names, written instead of the text lines when an environment's stream says `JSON`.
enum PlatformRecord {
    /// The text line `INIT_START` becomes `platform.initStart`.
    static func initStart(
        time: String, runtimeVersion: String, initializationType: String = "on-demand", phase: String = "init"
    ) -> String {
        // The text form is `<version>\tRuntime Version ARN: <arn>`.
        var version = runtimeVersion
        var arn: String? = nil
        if let range = runtimeVersion.range(of: "\tRuntime Version ARN: ") {
            version = String(runtimeVersion[..<range.lowerBound])
            arn = String(runtimeVersion[range.upperBound...])
        }
        var record = JSONObject()
        record.string("initializationType", initializationType)
        record.string("phase", phase)
        record.string("runtimeVersion", version)
        if let arn { record.string("runtimeVersionArn", arn) }
        return envelope(time: time, type: "platform.initStart", record: record)
    }

    /// A failed Init: `platform.initRuntimeDone` (status, errorType) then `platform.initReport` (its duration).
    /// `errorType` nil: INIT ran out of its time (`status: timeout`).
    static func initFailed(time: String, durationMs: Double, errorType: String?, phase: String = "init") -> [String] {
        let status =
            errorType.map { $0.hasSuffix("Timeout") || $0 == "Sandbox.Timedout" ? "timeout" : "error" } ?? "timeout"
        var done = JSONObject()
        done.string("initializationType", "on-demand")
        done.string("phase", phase)
        done.string("status", status)
        if let errorType { done.string("errorType", errorType) }
        var report = JSONObject()
        report.string("initializationType", "on-demand")
        report.string("phase", phase)
        report.string("status", status)
        if let errorType { report.string("errorType", errorType) }
        var metrics = JSONObject()
        metrics.number("durationMs", formatMilliseconds(durationMs))
        report.object("metrics", metrics)
        return [
            envelope(time: time, type: "platform.initRuntimeDone", record: done),
            envelope(time: time, type: "platform.initReport", record: report),
        ]
    }

    static func start(time: String, requestID: String, version: String) -> String {
        var record = JSONObject()
        record.string("requestId", requestID)
        record.string("version", version)
        return envelope(time: time, type: "platform.start", record: record)
    }

    /// `END` becomes `platform.runtimeDone`: the invoke's status as the runtime finished it.
    static func runtimeDone(
        time: String, requestID: String, status: String, errorType: String?, durationMs: Double
    ) -> String {
        var record = JSONObject()
        record.string("requestId", requestID)
        record.string("status", status)
        if let errorType { record.string("errorType", errorType) }
        var metrics = JSONObject()
        metrics.number("durationMs", formatMilliseconds(durationMs))
        record.object("metrics", metrics)
        return envelope(time: time, type: "platform.runtimeDone", record: record)
    }

    /// `REPORT` becomes `platform.report`.
    static func report(time: String, fields: ReportFields, errorType: String?, maxMemoryUsedMB: Int) -> String {
        var record = JSONObject()
        record.string("requestId", fields.requestID)
        record.string("status", fields.status ?? "success")
        if let errorType, fields.status != nil { record.string("errorType", errorType) }
        var metrics = JSONObject()
        metrics.number("durationMs", formatMilliseconds(fields.durationMs))
        metrics.number("billedDurationMs", String(fields.billedDurationMs))
        metrics.number("memorySizeMB", String(fields.memorySizeMB))
        metrics.number("maxMemoryUsedMB", String(maxMemoryUsedMB))
        if let initDurationMs = fields.initDurationMs {
            metrics.number("initDurationMs", formatMilliseconds(initDurationMs))
        }
        record.object("metrics", metrics)
        return envelope(time: time, type: "platform.report", record: record)
    }

    static func envelope(time: String, type: String, record: JSONObject) -> String {
        var object = JSONObject()
        object.string("time", time)
        object.string("type", type)
        object.object("record", record)
        return object.text
    }
}

/// A JSON object written key by key, in order: the few records the platform writes need no encoder.
struct JSONObject {
    private var body = ""

    var text: String { "{" + body + "}" }

    mutating func string(_ key: String, _ value: String) {
        field(key)
        JSONText.appendQuoted(value, to: &body)
    }

    /// `value` must already be a JSON number.
    mutating func number(_ key: String, _ value: String) {
        field(key)
        body += value
    }

    mutating func object(_ key: String, _ value: JSONObject) {
        field(key)
        body += value.text
    }

    private mutating func field(_ key: String) {
        if !body.isEmpty { body += "," }
        JSONText.appendQuoted(key, to: &body)
        body += ":"
    }
}
