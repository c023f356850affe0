import Foundation
import LambdaModel

/// One line of a log stream, as `FilterLogEvents` returns it.
public struct LogEvent: Sendable, Hashable {
    public var groupName: String
    public var streamName: String
    /// Epoch milliseconds.
    public var timestamp: Int64
    public var message: String

    public init(groupName: String, streamName: String, timestamp: Int64, message: String) {
        self.groupName = groupName
        self.streamName = streamName
        self.timestamp = timestamp
        self.message = message
    }

    /// `aws logs tail`'s default (`detailed`) format: `<timestamp with µs and offset> <stream> <message>`.
    public var detailedLine: String {
        "\(LogTime.detailed(timestamp)) \(streamName) \(message)"
    }

    /// One JSON object: the fields of a `FilterLogEvents` event, with the group.
    public var jsonLine: String {
        var text = "{\"logGroupName\":"
        JSONText.appendQuoted(groupName, to: &text)
        text += ",\"logStreamName\":"
        JSONText.appendQuoted(streamName, to: &text)
        text += ",\"timestamp\":\(timestamp),\"message\":"
        JSONText.appendQuoted(message, to: &text)
        text += "}"
        return text
    }
}

/// What `albatross logs` selects: a start time, a plain substring and the versions whose streams count.
public struct LogQuery: Sendable, Hashable {
    /// Epoch milliseconds; events before it are skipped. nil: from the beginning.
    public var sinceMs: Int64?
    /// A case-sensitive substring of the message (CloudWatch's single-term filter pattern); nil: every event.
    public var filter: String?
    /// Only streams of these versions (`$LATEST`, `3`); nil: every stream.
    public var versions: Set<String>?

    public init(sinceMs: Int64? = nil, filter: String? = nil, versions: Set<String>? = nil) {
        self.sinceMs = sinceMs
        self.filter = filter
        self.versions = versions
    }

    public func includes(streamName: String) -> Bool {
        guard let versions else { return true }
        guard let version = LogGroupPaths.version(ofStream: streamName) else { return false }
        return versions.contains(version)
    }

    public func includes(timestamp: Int64, message: String) -> Bool {
        if let sinceMs, timestamp < sinceMs { return false }
        if let filter, !filter.isEmpty, !message.contains(filter) { return false }
        return true
    }
}

/// Reads a log group's streams (the files ``LogSink`` writes) and merges their lines in time order. Each
/// ``read()`` returns only what was appended since the previous one, from old and new streams alike, so calling
/// it in a loop follows the group (`--follow`). Blocking file I/O: for a command's thread, not an event loop.
public final class LogGroupReader {
    public let groupName: String
    public let directory: String
    public let query: LogQuery

    private struct StreamState {
        var offset: UInt64 = 0
        /// Bytes after the last newline, kept until the line is complete.
        var partial: [UInt8] = []
    }
    private var streams: [String: StreamState] = [:]

    public init(dataDirectory: String, groupName: String, query: LogQuery) {
        self.groupName = groupName
        self.directory = LogGroupPaths.directory(dataDirectory: dataDirectory, groupName: groupName)
        self.query = query
    }

    /// The stream names in the group (`YYYY/MM/DD/[version]hex`), sorted; none when the group does not exist.
    public func streamNames() -> [String] {
        Self.streamNames(in: directory)
    }

    static func streamNames(in directory: String) -> [String] {
        let files = FileManager.default
        var names: [String] = []
        for year in (try? files.contentsOfDirectory(atPath: directory)) ?? [] where isDigits(year, 4) {
            let yearPath = "\(directory)/\(year)"
            for month in (try? files.contentsOfDirectory(atPath: yearPath)) ?? [] where isDigits(month, 2) {
                let monthPath = "\(yearPath)/\(month)"
                for day in (try? files.contentsOfDirectory(atPath: monthPath)) ?? [] where isDigits(day, 2) {
                    for stream in (try? files.contentsOfDirectory(atPath: "\(monthPath)/\(day)")) ?? []
                    where stream.hasPrefix("[") {
                        names.append("\(year)/\(month)/\(day)/\(stream)")
                    }
                }
            }
        }
        return names.sorted()
    }

    private static func isDigits(_ text: String, _ count: Int) -> Bool {
        text.utf8.count == count && text.utf8.allSatisfy { $0 >= 48 && $0 <= 57 }
    }

    /// Every event appended since the last call that the query selects, merged by timestamp (then stream name).
    /// Each stream's lines keep their order in the file even where a timestamp is a millisecond behind the line
    /// before (the writer dates lines from event times, which can differ by rounding).
    public func read() -> [LogEvent] {
        var perStream: [[LogEvent]] = []
        for name in streamNames() where query.includes(streamName: name) {
            let path = "\(directory)/\(name)"
            var state = streams[name] ?? StreamState()
            if state.offset == 0, let sinceMs = query.sinceMs, let modified = Self.modificationMs(path),
                modified < sinceMs - 2000
            {
                // The file's last write is older than --since, so is every line in it. Look again later.
                continue
            }
            guard let bytes = Self.readFrom(path: path, state: &state) else {
                streams[name] = nil
                continue
            }
            var events: [LogEvent] = []
            var lineStart = 0
            var all = state.partial + bytes
            state.partial = []
            if let lastNewline = all.lastIndex(of: UInt8(ascii: "\n")) {
                state.partial = Array(all[(lastNewline + 1)...])
                all.removeSubrange((lastNewline + 1)...)
            } else {
                state.partial = all
                all = []
            }
            for index in all.indices where all[index] == UInt8(ascii: "\n") {
                let line = all[lineStart..<index]
                lineStart = index + 1
                guard let (timestamp, message) = Self.parse(line) else { continue }
                guard query.includes(timestamp: timestamp, message: message) else { continue }
                events.append(LogEvent(groupName: groupName, streamName: name, timestamp: timestamp, message: message))
            }
            streams[name] = state
            if !events.isEmpty { perStream.append(events) }
        }
        return Self.merge(perStream)
    }

    /// A k-way merge of streams (each in file order, stream names ascending): repeatedly the head with the
    /// smallest timestamp, the first stream on ties.
    static func merge(_ streams: [[LogEvent]]) -> [LogEvent] {
        if streams.count == 1 { return streams[0] }
        var heads = [Int](repeating: 0, count: streams.count)
        var merged: [LogEvent] = []
        merged.reserveCapacity(streams.reduce(0) { $0 + $1.count })
        while true {
            var best = -1
            for index in streams.indices where heads[index] < streams[index].count {
                if best < 0 || streams[index][heads[index]].timestamp < streams[best][heads[best]].timestamp {
                    best = index
                }
            }
            guard best >= 0 else { return merged }
            merged.append(streams[best][heads[best]])
            heads[best] += 1
        }
    }

    /// `<ISO-8601 UTC> <message>` → (epoch ms, message); lines without a timestamp are skipped.
    static func parse(_ line: ArraySlice<UInt8>) -> (Int64, String)? {
        guard let space = line.firstIndex(of: UInt8(ascii: " ")) else { return nil }
        guard let stamp = String(validating: line[line.startIndex..<space], as: UTF8.self),
            let timestamp = LogTime.parseISO8601(stamp)
        else { return nil }
        let message = String(decoding: line[(space + 1)...], as: UTF8.self)
        return (timestamp, message)
    }

    private static func modificationMs(_ path: String) -> Int64? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Int64(info.st_mtim.tv_sec) * 1000 + Int64(info.st_mtim.tv_nsec / 1_000_000)
    }

    /// The bytes after `state.offset` (from 0 again if the file shrank); nil when the file is gone.
    private static func readFrom(path: String, state: inout StreamState) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return nil }
        let size = UInt64(info.st_size)
        if size < state.offset {
            state.offset = 0
            state.partial = []
        }
        guard size > state.offset else { return [] }
        var bytes = [UInt8](repeating: 0, count: Int(size - state.offset))
        var filled = 0
        while filled < bytes.count {
            let count = bytes.withUnsafeMutableBytes {
                pread(fd, $0.baseAddress! + filled, $0.count - filled, off_t(state.offset) + off_t(filled))
            }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            filled += count
        }
        bytes.removeSubrange(filled...)
        state.offset += UInt64(filled)
        return bytes
    }
}
