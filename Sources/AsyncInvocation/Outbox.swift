public import Foundation
import LambdaModel

#if canImport(Glibc)
    import Glibc
#endif

/// The local stand-in for SQS queues, SNS topics, EventBridge buses and S3 buckets named as destinations or
/// dead-letter targets: each message is one JSON line appended to `<data>/outbox/<service>/<name>.jsonl` and
/// flushed to disk (`fsync`) before the delivery counts as done.
///
/// A line: `{"MessageId","TargetArn","Timestamp","Body","Attributes"}`; `Body` is the message text (the
/// destination record, or for a dead-letter message the original event), `Attributes` the message attributes
/// AWS sets (`RequestID`, `ErrorCode`, `ErrorMessage` on dead-letter messages). Blocking: call it from the thread
/// pool.
public struct Outbox: Sendable {
    public let directory: String

    public init(dataDirectory: String) {
        directory = "\(dataDirectory)/outbox"
    }

    /// The file a service's resource writes to.
    public func file(service: String, name: String) -> String { "\(directory)/\(service)/\(name).jsonl" }

    public struct WriteError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Appends one message and syncs it to disk.
    public func append(
        service: String, name: String, targetArn: String, body: String, attributes: [(String, String)] = [],
        messageID: String, now: Date = Date()
    ) throws {
        guard !name.contains("/"), name != "..", name != "." else {
            throw WriteError(description: "\(name) is not a usable outbox name")
        }
        let folder = "\(directory)/\(service)"
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw WriteError(description: "cannot create \(folder): \(error)")
        }
        var line = "{"
        JSONText.appendQuoted("MessageId", to: &line)
        line += ":"
        JSONText.appendQuoted(messageID, to: &line)
        line += ","
        JSONText.appendQuoted("TargetArn", to: &line)
        line += ":"
        JSONText.appendQuoted(targetArn, to: &line)
        line += ","
        JSONText.appendQuoted("Timestamp", to: &line)
        line += ":"
        JSONText.appendQuoted(DestinationRecord.timestamp(now), to: &line)
        line += ","
        JSONText.appendQuoted("Body", to: &line)
        line += ":"
        JSONText.appendQuoted(body, to: &line)
        line += ",\"Attributes\":{"
        for (index, attribute) in attributes.enumerated() {
            if index > 0 { line += "," }
            JSONText.appendQuoted(attribute.0, to: &line)
            line += ":"
            JSONText.appendQuoted(attribute.1, to: &line)
        }
        line += "}}\n"
        let path = file(service: service, name: name)
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw WriteError(description: "cannot open \(path): errno \(errno)") }
        defer { close(fd) }
        let bytes = Array(line.utf8)
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { buffer in
                write(fd, buffer.baseAddress! + written, buffer.count - written)
            }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw WriteError(description: "cannot write \(path): errno \(errno)") }
            written += n
        }
        guard fsync(fd) == 0 else { throw WriteError(description: "cannot sync \(path): errno \(errno)") }
    }
}
