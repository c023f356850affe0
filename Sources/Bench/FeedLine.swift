/// One line of a server's `/invocations/events` (AdminServer's `InvocationEventFeed`, whose doc comment gives the
/// format), parsed from its bytes in one pass: the fields are in a fixed order, separated by single spaces, and the
/// numbers are read as they are scanned. Nothing is allocated for a line but the text of an error, when there is
/// one, so that `albatross bench --server` can follow a fast server's feed on a small share of its CPU.
public enum FeedLine: Equatable, Sendable {
    /// `i …`: one invocation, its events joined by the server.
    case invocation(FeedInvocation)
    /// `s ENV AT FUNCTION`: an environment's INIT started.
    case initStarted(environment: Int, at: Int64)
    /// `f ENV AT RESULT`: an environment's INIT ended; `failed` for `f`.
    case initFinished(environment: Int, at: Int64, failed: Bool)
    /// `l AT DROPPED`: a heartbeat.
    case live(at: Int64, dropped: Int)

    /// The line (without `data: ` and the newline), or nil when it is not one of the feed's: a truncated or
    /// malformed line, a line of another format (an older server's JSON), a field that is not what its place says.
    /// `nonce`: the trace roots that are this client's own (``BenchTraceRoot``), whose index
    /// ``FeedInvocation/rootIndex`` gives.
    public static func parse(_ line: UnsafeRawBufferPointer, nonce: UInt32) -> FeedLine? {
        var scanner = Scanner(bytes: line)
        guard line.count >= 2, line[1] == 32 else { return nil }
        let kind = line[0]
        scanner.position = 2
        switch kind {
        case UInt8(ascii: "i"):
            guard let id = scanner.field(), !id.isEmpty else { return nil }
            var invocation = FeedInvocation(requestID: RequestKey(id))
            guard let root = scanner.field() else { return nil }
            if !Self.isAbsent(root) {
                invocation.hasRoot = true
                invocation.rootIndex = BenchTraceRoot.index(of: root, nonce: nonce)
            }
            guard let frontReceived = scanner.optionalNumber(), let placement = scanner.field(),
                placement.count == 1
            else { return nil }
            invocation.frontReceived = frontReceived
            switch placement[0] {
            case UInt8(ascii: "w"): invocation.placement = "warm"
            case UInt8(ascii: "q"): invocation.placement = "queued"
            case UInt8(ascii: "c"): invocation.placement = "coldStart"
            case UInt8(ascii: "t"): invocation.placement = "throttled"
            case UInt8(ascii: "-"): invocation.placement = nil
            default: return nil
            }
            guard let placed = scanner.optionalNumber(), let environment = scanner.optionalNumber(),
                let received = scanner.optionalNumber(), let delivered = scanner.optionalNumber(),
                let posted = scanner.optionalNumber(), let status = scanner.optionalNumber(),
                let reason = scanner.field(), let errorType = scanner.field(), scanner.atEnd
            else { return nil }
            invocation.placed = placed
            invocation.environment = environment.map { Int($0) }
            invocation.received = received
            invocation.delivered = delivered
            invocation.posted = posted
            invocation.status = status.map { Int($0) }
            invocation.albErrorReason = Self.text(reason)
            invocation.errorType = Self.text(errorType)
            return .invocation(invocation)
        case UInt8(ascii: "s"):
            guard let environment = scanner.number(), let at = scanner.number(), scanner.field() != nil,
                scanner.atEnd
            else { return nil }
            return .initStarted(environment: Int(environment), at: at)
        case UInt8(ascii: "f"):
            guard let environment = scanner.number(), let at = scanner.number(), let result = scanner.field(),
                result.count == 1, scanner.atEnd
            else { return nil }
            guard [UInt8(ascii: "r"), UInt8(ascii: "s"), UInt8(ascii: "f"), UInt8(ascii: "t")].contains(result[0])
            else { return nil }
            return .initFinished(environment: Int(environment), at: at, failed: result[0] == UInt8(ascii: "f"))
        case UInt8(ascii: "l"):
            guard let at = scanner.number(), let dropped = scanner.number(), scanner.atEnd else { return nil }
            return .live(at: at, dropped: Int(dropped))
        default:
            return nil
        }
    }

    static func isAbsent(_ field: UnsafeRawBufferPointer) -> Bool {
        field.count == 1 && field[0] == UInt8(ascii: "-")
    }

    /// A text field, `%XX` decoded; nil for `-`.
    static func text(_ field: UnsafeRawBufferPointer) -> String? {
        if isAbsent(field) { return nil }
        guard field.contains(UInt8(ascii: "%")) else { return String(decoding: field, as: UTF8.self) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(field.count)
        var index = 0
        while index < field.count {
            if field[index] == UInt8(ascii: "%"), index + 2 < field.count, let high = hexValue(field[index + 1]),
                let low = hexValue(field[index + 2])
            {
                bytes.append(high << 4 | low)
                index += 3
            } else {
                bytes.append(field[index])
                index += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// Fields separated by single spaces.
    private struct Scanner {
        let bytes: UnsafeRawBufferPointer
        var position = 0

        init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

        var atEnd: Bool { position > bytes.count }

        /// The next field (nil when the line has no more); a field is never empty.
        mutating func field() -> UnsafeRawBufferPointer? {
            guard position < bytes.count else { return nil }
            var end = position
            while end < bytes.count && bytes[end] != 32 { end += 1 }
            guard end > position else { return nil }
            let field = UnsafeRawBufferPointer(rebasing: bytes[position..<end])
            position = end + 1
            return field
        }

        /// A decimal number (up to 18 digits).
        mutating func number() -> Int64? {
            guard let field = field(), field.count <= 18 else { return nil }
            var value: Int64 = 0
            for byte in field {
                guard byte >= 48 && byte <= 57 else { return nil }
                value = value * 10 + Int64(byte - 48)
            }
            return value
        }

        /// A number or `-`: `.some(nil)` for `-`, nil when the field is neither.
        mutating func optionalNumber() -> Int64?? {
            guard let field = field() else { return nil }
            if FeedLine.isAbsent(field) { return .some(nil) }
            guard field.count <= 18 else { return nil }
            var value: Int64 = 0
            for byte in field {
                guard byte >= 48 && byte <= 57 else { return nil }
                value = value * 10 + Int64(byte - 48)
            }
            return .some(value)
        }
    }
}

/// What an `i` line of the feed says of one invocation; nil for what it does not know.
public struct FeedInvocation: Equatable, Sendable {
    public var requestID: RequestKey
    /// The line has a trace root (the request came through a listener).
    public var hasRoot = false
    /// The index of the root, when it is one of this client's (``BenchTraceRoot``).
    public var rootIndex: Int?
    /// When the listener had the request's head.
    public var frontReceived: Int64?
    /// `warm`, `queued`, `coldStart`, `throttled`.
    public var placement: String?
    public var placed: Int64?
    public var environment: Int?
    /// When the invoke entered the platform (the invoker).
    public var received: Int64?
    public var delivered: Int64?
    public var posted: Int64?
    public var status: Int?
    public var albErrorReason: String?
    public var errorType: String?

    public init(requestID: RequestKey) { self.requestID = requestID }
}

/// A request id as a key: the 128 bits of a UUID (what the platform and bench make), without a `String` to hash
/// and compare; any other id as its text.
public enum RequestKey: Hashable, Sendable {
    case uuid(UInt64, UInt64)
    case text(String)

    public init(_ bytes: UnsafeRawBufferPointer) {
        if let (high, low) = Self.uuid(bytes) {
            self = .uuid(high, low)
        } else {
            self = .text(String(decoding: bytes, as: UTF8.self))
        }
    }

    public init(_ text: String) {
        var text = text
        self = text.withUTF8 { RequestKey(UnsafeRawBufferPointer($0)) }
    }

    /// `8-4-4-4-12` hexadecimal digits.
    static func uuid(_ bytes: UnsafeRawBufferPointer) -> (UInt64, UInt64)? {
        guard bytes.count == 36, bytes[8] == 45, bytes[13] == 45, bytes[18] == 45, bytes[23] == 45 else { return nil }
        var high: UInt64 = 0
        var low: UInt64 = 0
        var digits = 0
        for index in 0..<36 where index != 8 && index != 13 && index != 18 && index != 23 {
            guard let value = FeedLine.hexValue(bytes[index]) else { return nil }
            if digits < 16 {
                high = high << 4 | UInt64(value)
            } else {
                low = low << 4 | UInt64(value)
            }
            digits += 1
        }
        return (high, low)
    }
}

/// The `X-Amzn-Trace-Id` roots `albatross bench --via` sends: `1-EPOCH-NONCE INDEX` (8 hexadecimal digits of the
/// epoch, then 24: 8 of a nonce drawn once per process and 16 of the request's index in that process), so that the
/// root the listener reports back gives the request's slot in an array at once, with no dictionary of roots.
public enum BenchTraceRoot {
    /// The root's 35 bytes.
    public static func bytes(epoch: UInt32, nonce: UInt32, index: UInt64) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(35)
        append(epoch: epoch, nonce: nonce, index: index, to: &bytes)
        return bytes
    }

    /// Appends the root's 35 bytes to `bytes`.
    public static func append(epoch: UInt32, nonce: UInt32, index: UInt64, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "1"))
        bytes.append(UInt8(ascii: "-"))
        hex(UInt64(epoch), digits: 8, into: &bytes)
        bytes.append(UInt8(ascii: "-"))
        hex(UInt64(nonce), digits: 8, into: &bytes)
        hex(index, digits: 16, into: &bytes)
    }

    /// A root's length in bytes.
    public static let length = 35

    /// Writes the root's 35 bytes over `bytes` (35 bytes long), as ``append(epoch:nonce:index:to:)`` would.
    public static func write(epoch: UInt32, nonce: UInt32, index: UInt64, into bytes: UnsafeMutableRawBufferPointer) {
        precondition(bytes.count == length)
        bytes[0] = UInt8(ascii: "1")
        bytes[1] = UInt8(ascii: "-")
        hex(UInt64(epoch), digits: 8, into: bytes, at: 2)
        bytes[10] = UInt8(ascii: "-")
        hex(UInt64(nonce), digits: 8, into: bytes, at: 11)
        hex(index, digits: 16, into: bytes, at: 19)
    }

    /// The index of `root` when it has this form and `nonce`; nil otherwise.
    public static func index(of root: UnsafeRawBufferPointer, nonce: UInt32) -> Int? {
        guard root.count == 35, root[0] == UInt8(ascii: "1"), root[1] == 45, root[10] == 45 else { return nil }
        var found: UInt64 = 0
        for index in 11..<19 {
            guard let value = FeedLine.hexValue(root[index]) else { return nil }
            found = found << 4 | UInt64(value)
        }
        guard found == UInt64(nonce) else { return nil }
        var value: UInt64 = 0
        for index in 19..<35 {
            guard let digit = FeedLine.hexValue(root[index]) else { return nil }
            value = value << 4 | UInt64(digit)
        }
        return value <= UInt64(Int.max) ? Int(value) : nil
    }

    private static let digits = Array("0123456789abcdef".utf8)

    static func hex(_ value: UInt64, digits count: Int, into bytes: UnsafeMutableRawBufferPointer, at start: Int) {
        for digit in 0..<count {
            bytes[start + digit] = digits[Int((value >> UInt64((count - 1 - digit) * 4)) & 0xF)]
        }
    }

    static func hex(_ value: UInt64, digits count: Int, into bytes: inout [UInt8]) {
        for shift in stride(from: (count - 1) * 4, through: 0, by: -4) {
            bytes.append(digits[Int((value >> UInt64(shift)) & 0xF)])
        }
    }
}
