import Glibc
import InvocationModel
import NIOCore

/// Splits a runtime's (or an extension's) merged stdout/stderr into lines for its log stream.
///
/// Lines are bounded (256 KiB, CloudWatch's event size); a longer line is cut into several events.
///
/// The pipe is read no faster than the log path writes: while a subscriber of the lines is behind
/// (``InvocationEventBus/outputIsBehind``, one atomic load per read of the pipe), the next read is held, so the
/// kernel's pipe fills and the runtime's write(2) blocks; it is looked at again every ``recheckInterval`` on the
/// channel's event loop, and reading resumes once the subscriber is back under its low-water mark.
final class OutputLineHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = Never

    static let maximumLineLength = 256 * 1024
    /// How often a held read looks at the bus again.
    static let recheckInterval = TimeAmount.milliseconds(2)
    /// What ``drainHeldOutput()`` reads at most: the largest pipe an unprivileged process can have
    /// (`/proc/sys/fs/pipe-max-size`'s default), so everything the runtime wrote before it posted its result.
    static let drainLimit = 1 << 20

    private let environment: ExecutionEnvironment
    private let events: InvocationEventBus
    /// The pipe's descriptor (owned by the channel), for ``drainHeldOutput()``.
    private let descriptor: CInt
    /// The output of an extension rather than the runtime's.
    private let fromExtension: Bool
    private var partial = ByteBuffer()
    private var context: ChannelHandlerContext?
    /// A read the channel asked for and that waits until the bus is no longer behind.
    private var recheck: Scheduled<Void>?
    /// The environment ends: the rest is read without waiting (the runtime no longer writes).
    private var unthrottled = false

    init(environment: ExecutionEnvironment, events: InvocationEventBus, descriptor: CInt, fromExtension: Bool = false) {
        self.environment = environment
        self.events = events
        self.descriptor = descriptor
        self.fromExtension = fromExtension
    }

    /// Whether reading is held back.
    var isHoldingRead: Bool { recheck != nil }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        recheck?.cancel()
        recheck = nil
        self.context = nil
    }

    // MARK: reading, held while the log path is behind

    func read(context: ChannelHandlerContext) {
        guard !unthrottled, events.outputIsBehind else { return context.read() }
        guard recheck == nil else { return }
        events.countOutputPause()
        holdRead(context)
    }

    private func holdRead(_ context: ChannelHandlerContext) {
        recheck = context.eventLoop.assumeIsolated().scheduleTask(in: Self.recheckInterval) { [self] in
            recheck = nil
            if unthrottled || !events.outputIsBehind {
                context.read()
            } else {
                holdRead(context)
            }
        }
    }

    /// The environment ends: what is left in the pipe is read at once, whatever the bus's backlog.
    func unthrottle() {
        unthrottled = true
        guard let recheck, let context else { return }
        recheck.cancel()
        self.recheck = nil
        context.read()
    }

    /// While reading is held: reads what the pipe holds now (at most ``drainLimit`` bytes) and emits its lines,
    /// so that the lines an invoke wrote before it ended come before its END and REPORT, as they do when nothing
    /// is held. The read that is held stays held.
    /// (Only while held: the channel then does not wait for the pipe's readiness, so reading it here cannot leave
    /// the channel a readiness with nothing to read, which NIO takes for a bug.)
    func drainHeldOutput() {
        guard recheck != nil, let context, context.channel.isActive else { return }
        var buffer = context.channel.allocator.buffer(capacity: 64 * 1024)
        var total = 0
        while total < Self.drainLimit {
            buffer.clear()
            let count = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 64 * 1024) { bytes in
                max(0, Glibc.read(descriptor, bytes.baseAddress, min(bytes.count, Self.drainLimit - total)))
            }
            // Empty (EAGAIN), the end (EOF, seen by the channel once it reads again) or an error (likewise).
            guard count > 0 else { break }
            total += count
            consume(&buffer)
        }
    }

    /// How many bytes the pipe holds that nobody has read yet (FIONREAD; 0 once the channel is closed).
    var unreadBytes: Int {
        guard let context, context.channel.isActive else { return 0 }
        var count: CInt = 0
        return ioctl(descriptor, UInt(FIONREAD), &count) == 0 ? Int(count) : 0
    }

    // MARK: lines

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        consume(&buffer)
    }

    private func consume(_ buffer: inout ByteBuffer) {
        while let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
            let length = newline - buffer.readerIndex
            var slice = buffer.readSlice(length: length)!
            buffer.moveReaderIndex(forwardBy: 1)
            if partial.readableBytes > 0 {
                partial.writeBuffer(&slice)
                emit(partial)
                partial.clear()
            } else {
                emit(slice)
            }
        }
        if buffer.readableBytes > 0 {
            partial.writeBuffer(&buffer)
            while partial.readableBytes >= Self.maximumLineLength {
                emit(partial.readSlice(length: Self.maximumLineLength)!)
                partial.discardReadBytes()
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if partial.readableBytes > 0 {
            emit(partial)
            partial.clear()
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func emit(_ line: ByteBuffer) {
        environment.logOutput(String(decoding: line.readableBytesView, as: UTF8.self), fromExtension: fromExtension)
    }
}

@available(*, unavailable)
extension OutputLineHandler: Sendable {}
