import CZlib
import Foundation
public import InvocationModel
public import LambdaModel
import NIOConcurrencyHelpers
import NIOCore

/// Where and how one load balancer's access logs are written: the local directory standing in for the S3 bucket
/// (`access_logs.s3.bucket`), the prefix, and the names AWS puts in every object key.
public struct ALBAccessLogSettings: Sendable, Hashable {
    /// The directory standing in for the bucket.
    public var directory: String
    /// `access_logs.s3.prefix`; nil for none.
    public var prefix: String?
    public var account: AccountContext
    /// The load balancer's name, as in `app/<name>/<id>`.
    public var loadBalancerName: String
    /// The address of the "node" in file names (an ALB node's IP; here the listener's address).
    public var nodeAddress: String
    /// Seconds per file; AWS delivers every 5 minutes.
    public var rotationSeconds: Int
    /// gzip each file (`.log.gz`), as AWS does; false writes plain `.log` files.
    public var compress: Bool

    public init(
        directory: String, prefix: String? = nil, account: AccountContext = AccountContext(),
        loadBalancerName: String = "albatross", nodeAddress: String = "127.0.0.1", rotationSeconds: Int = 300,
        compress: Bool = true
    ) {
        self.directory = directory
        self.prefix = prefix
        self.account = account
        self.loadBalancerName = loadBalancerName
        self.nodeAddress = nodeAddress
        self.rotationSeconds = max(1, rotationSeconds)
        self.compress = compress
    }

    /// `app/<name>/<16 hex>`: the `elb` field; the hex is derived from the name, so it is stable across restarts.
    public var loadBalancerID: String { "app/\(loadBalancerName)/\(AccountContext.stableHex(loadBalancerName))" }

    /// The file that holds the lines of the interval ending at `intervalEndEpochSeconds` (observability.md §3.1):
    /// `[prefix/]AWSLogs/<acct>/elasticloadbalancing/<region>/yyyy/mm/dd/<acct>_elasticloadbalancing_<region>_`
    /// `app.<name>.<id>_<yyyymmddThhmmZ>_<ip>_<random>.log[.gz]`.
    public func path(intervalEndEpochSeconds: Int, random: String) -> String {
        let d = CivilDate(epochSeconds: intervalEndEpochSeconds)
        let (mm, dd) = (CivilDate.pad2(d.month), CivilDate.pad2(d.day))
        let end = "\(d.year)\(mm)\(dd)T\(CivilDate.pad2(d.hour))\(CivilDate.pad2(d.minute))Z"
        let region = account.region
        let acct = account.accountID
        let lb = loadBalancerID.replacingOccurrences(of: "/", with: ".")
        let folder = "\(directory)\(prefix.map { "/" + $0 } ?? "")/AWSLogs/\(acct)/elasticloadbalancing/\(region)"
        let name = "\(acct)_elasticloadbalancing_\(region)_\(lb)_\(end)_\(nodeAddress)_\(random).log"
        return "\(folder)/\(d.year)/\(mm)/\(dd)/\(name)\(compress ? ".gz" : "")"
    }
}

/// Writes ALB access logs for one load balancer from the invocation event stream: a subscriber of
/// `responseWritten`, so formatting and all file I/O happen on its subscription's thread, never on an event loop.
///
/// Lines go to the file of the interval their `time` falls in (5 minutes by default, as ALB delivers); a new
/// interval starts a new file with a new random suffix. Each batch of events is appended at once, as its own gzip
/// member when compressing, so a file is complete (and `zcat`-readable) after every batch, not only once its
/// interval has ended.
public final class ALBAccessLogWriter: InvocationEventSubscriber {
    private struct State {
        /// Files by interval end (the current one and any a late line went to).
        var files: [Int: String] = [:]
        /// Every file written to, for ``files``.
        var written: Set<String> = []
        var closed = false
        var failures = 0
    }

    public let settings: ALBAccessLogSettings
    public let interests: InvocationEvent.Kinds = [.responseWritten, .requestDetails]
    private let state = NIOLockedValueBox(State())
    private let subscription = BusAttachment()

    public init(settings: ALBAccessLogSettings) {
        self.settings = settings
    }

    /// Subscribes to `bus`: from now on, every response the front end writes gets a line.
    public func attach(to bus: InvocationEventBus) {
        subscription.attach(self, to: bus, name: "access-logs", capacity: 1_000_000)
    }

    /// Events dropped because the writer fell too far behind.
    public var droppedEvents: Int { subscription.droppedEvents }

    /// Batches that could not be written (directory not creatable, disk full); their lines are lost.
    public var writeFailures: Int { state.withLockedValue { $0.failures } }

    /// Blocks until every event emitted so far is written. Not for event loops.
    public func flush() {
        subscription.flushBlocking()
    }

    /// Waits until every event emitted so far is written.
    public func flushed() async {
        await subscription.flush()
    }

    /// Writes what is pending and unsubscribes; later events are ignored.
    public func shutdown() {
        subscription.detach()
        state.withLockedValue { $0.closed = true }
    }

    /// Every file written so far, oldest interval first (the names sort by time).
    public var files: [String] {
        state.withLockedValue { $0.written.sorted() }
    }

    // MARK: the subscriber

    public func receive(_ events: [InvocationEvent]) {
        let elb = settings.loadBalancerID
        var batches: [Int: [UInt8]] = [:]
        for event in events {
            guard case .responseWritten(let written) = event.detail, let request = written.request,
                let line = ALBAccessLogLine.format(written, at: event.at, elb: elb)
            else { continue }
            let seconds = Int(ALBAccessLogLine.responseEpochMicroseconds(request, at: event.at) / 1_000_000)
            let rotation = settings.rotationSeconds
            let intervalEnd = (seconds / rotation + 1) * rotation
            batches[intervalEnd, default: []].appendUTF8(line)
            batches[intervalEnd]!.append(UInt8(ascii: "\n"))
        }
        guard !batches.isEmpty else { return }
        state.withLockedValue { state in
            guard !state.closed else { return }
            for (intervalEnd, bytes) in batches.sorted(by: { $0.key < $1.key }) {
                let path: String
                if let known = state.files[intervalEnd] {
                    path = known
                } else {
                    path = settings.path(intervalEndEpochSeconds: intervalEnd, random: Self.randomSuffix())
                    state.files[intervalEnd] = path
                    // Forget intervals long past (a late line for one of them starts a new file, as AWS may).
                    let horizon = intervalEnd - 4 * settings.rotationSeconds
                    state.files = state.files.filter { $0.key >= horizon }
                }
                state.written.insert(path)
                if !append(bytes, to: path) { state.failures += 1 }
            }
        }
    }

    private func append(_ bytes: [UInt8], to path: String) -> Bool {
        let folder = (path as NSString).deletingLastPathComponent
        if !FileManager.default.fileExists(atPath: folder) {
            do {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            } catch {
                return false
            }
        }
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
        guard fd >= 0 else { return false }
        guard settings.compress else {
            defer { Glibc.close(fd) }
            return Self.writeAll(fd, bytes)
        }
        // One gzip member per batch: gzip readers decompress concatenated members as one stream.
        guard let file = gzdopen(fd, "wb") else {
            Glibc.close(fd)
            return false
        }
        let written = bytes.withUnsafeBytes { gzwrite(file, $0.baseAddress, UInt32($0.count)) }
        let closed = gzclose(file)  // also closes fd
        return Int(written) == bytes.count && closed == Z_OK
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                offset += written
            }
            return true
        }
    }

    /// 8 lower-case letters and digits, like the suffix of AWS's file names.
    static func randomSuffix() -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789".unicodeScalars)
        var random = SystemRandomNumberGenerator()
        var text = ""
        for _ in 0..<8 { text.unicodeScalars.append(alphabet[Int(random.next(upperBound: UInt64(alphabet.count)))]) }
        return text
    }

    /// The lines of an access-log file, gzipped or not (for tests and tools).
    public static func readLines(of path: String) throws -> [String] {
        var data: [UInt8] = []
        if path.hasSuffix(".gz") {
            let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0, let file = gzdopen(fd, "rb") else {
                if fd >= 0 { Glibc.close(fd) }
                throw AccessLogReadError(path: path)
            }
            defer { gzclose(file) }
            var chunk = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = chunk.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32($0.count)) }
                if count < 0 { throw AccessLogReadError(path: path) }
                if count == 0 { break }
                data.append(contentsOf: chunk[0..<Int(count)])
            }
        } else {
            guard let contents = FileManager.default.contents(atPath: path) else {
                throw AccessLogReadError(path: path)
            }
            data = Array(contents)
        }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
    }
}

/// An access-log file that could not be read.
public struct AccessLogReadError: Error, CustomStringConvertible {
    public var path: String
    public var description: String { "cannot read access log \(path)" }
}
