public import NIOCore

/// Terminates TLS on an accepted connection: ciphertext ByteBuffers in and out below, plaintext ByteBuffers in
/// and out above. It owns the channel side (buffering, flushing, timers, events); `TLSServerStateMachine` decides
/// what happens next and `TLSConnection` talks to OpenSSL. Add one per connection, first in the pipeline.
///
/// Events it produces: the user inbound event `TLSHandshakeCompleted` after the handshake; `TLSError` through
/// `errorCaught` for a failed or timed-out handshake, a protocol error, or a truncated stream (EOF without
/// close_notify, code `.uncleanShutdown`); each of these also closes the channel.
public final class TLSServerHandler: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private let serverContext: TLSServerContext
    private let handshakeTimeout: TimeAmount
    private let closeTimeout: TimeAmount
    private var machine = TLSServerStateMachine()
    private var connection: TLSConnection?
    private var pendingWrites: [(data: ByteBuffer, promise: EventLoopPromise<Void>?)] = []
    private var flushedWriteCount = 0
    private var handshakeTimer: Scheduled<Void>?
    private var closeTimer: Scheduled<Void>?
    private var pendingClosePromise: EventLoopPromise<Void>?
    private var producedPlaintext = false

    /// - Parameters:
    ///   - context: the listener's server context (the certificates current when the handler is added are used).
    ///   - handshakeTimeout: overrides the context configuration's `handshakeTimeout`.
    ///   - closeTimeout: overrides the context configuration's `closeTimeout`.
    public init(context: TLSServerContext, handshakeTimeout: TimeAmount? = nil, closeTimeout: TimeAmount? = nil) {
        self.serverContext = context
        self.handshakeTimeout = handshakeTimeout ?? context.configuration.handshakeTimeout
        self.closeTimeout = closeTimeout ?? context.configuration.closeTimeout
    }

    // MARK: Lifecycle

    public func handlerAdded(context: ChannelHandlerContext) {
        do {
            connection = try TLSConnection(generation: serverContext.generation())
        } catch {
            _ = machine.handshakeFailed(error as? TLSError ?? .protocolError("\(error)"))
            context.fireErrorCaught(error)
            context.close(promise: nil)
            return
        }
        if context.channel.isActive { startHandshakeTimer(context: context) }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        releaseResources(error: ChannelError.ioOnClosedChannel)
    }

    public func channelActive(context: ChannelHandlerContext) {
        startHandshakeTimer(context: context)
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        switch machine.channelInactive() {
        case .reportTruncation:
            context.fireErrorCaught(TLSError.uncleanShutdown)
        case .completePendingClose:
            pendingClosePromise?.succeed()
            pendingClosePromise = nil
        case .none:
            break
        }
        releaseResources(error: ChannelError.ioOnClosedChannel)
        context.fireChannelInactive()
    }

    // MARK: Inbound

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let ciphertext = unwrapInboundIn(data)
        switch machine.receivedCiphertext() {
        case .continueHandshake:
            connection?.receive(ciphertext)
            continueHandshake(context: context)
        case .decrypt(let deliver):
            connection?.receive(ciphertext)
            decrypt(context: context, deliver: deliver)
        case .discard:
            break
        }
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        let produced = producedPlaintext
        producedPlaintext = false
        context.fireChannelReadComplete()
        // Handshake records alone give the next handler nothing to react to; keep reading for it.
        if !produced && machine.state != .closed { context.read() }
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let channelEvent = event as? ChannelEvent, channelEvent == .inputClosed else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        switch machine.inputEnded() {
        case .reportTruncationAndClose:
            context.fireErrorCaught(TLSError.uncleanShutdown)
            context.close(promise: nil)
        case .close:
            closeChannel(context: context)
        case .ignore:
            break
        }
    }

    private func continueHandshake(context: ChannelHandlerContext) {
        guard let connection else { return }
        let outcome = connection.handshake()
        // The ServerHello flight (or an alert) goes out even while the handshake waits for more input.
        sendCiphertext(context: context)
        switch outcome {
        case .incomplete:
            break
        case .complete:
            guard machine.handshakeCompleted() == .announceAndStartApplicationData else { return }
            handshakeTimer?.cancel()
            handshakeTimer = nil
            if let summary = connection.handshakeSummary() {
                context.fireUserInboundEventTriggered(summary)
            }
            // Application data may have arrived in the same read as the client's Finished.
            if machine.state == .active { decrypt(context: context, deliver: true) }
            if machine.state == .active && flushedWriteCount > 0 { encryptPendingWrites(context: context) }
        case .failed(let error):
            perform(machine.handshakeFailed(error), context: context)
        }
    }

    private func decrypt(context: ChannelHandlerContext, deliver: Bool) {
        guard let connection else { return }
        var plaintext = context.channel.allocator.buffer(capacity: 16_384)
        let outcome = connection.read(into: &plaintext)
        // Replies OpenSSL produced while reading (alerts, key updates) go out in any case.
        sendCiphertext(context: context)
        if deliver && plaintext.readableBytes > 0 {
            producedPlaintext = true
            context.fireChannelRead(wrapInboundOut(plaintext))
        }
        switch outcome {
        case .wantMoreInput:
            break
        case .closeNotify:
            peerSentCloseNotify(context: context)
        case .failed(let error):
            perform(machine.protocolFailed(error), context: context)
        }
    }

    private func peerSentCloseNotify(context: ChannelHandlerContext) {
        switch machine.receivedCloseNotify() {
        case .replyCloseNotifyAndClose:
            _ = connection?.shutdown()
            sendCiphertext(context: context)
            context.close(promise: nil)
        case .completeClose:
            closeChannel(context: context)
        case .ignore:
            break
        }
    }

    // MARK: Outbound

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch machine.write() {
        case .buffer:
            pendingWrites.append((unwrapOutboundIn(data), promise))
        case .fail:
            promise?.fail(ChannelError.outputClosed)
        }
    }

    public func flush(context: ChannelHandlerContext) {
        flushedWriteCount = pendingWrites.count
        switch machine.flush() {
        case .encryptAndSend:
            encryptPendingWrites(context: context)
        case .deferUntilHandshakeCompletes, .ignore:
            break
        }
    }

    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if mode == .input {
            context.close(mode: mode, promise: promise)
            return
        }
        switch machine.closeRequested() {
        case .closeChannel, .forwardClose:
            context.close(promise: promise)
        case .sendCloseNotifyAndWait:
            encryptPendingWrites(context: context)
            failPendingWrites(ChannelError.outputClosed)
            pendingClosePromise = promise
            let outcome = connection?.shutdown() ?? .complete
            sendCiphertext(context: context)
            if case .incomplete = outcome, closeTimeout > .zero {
                closeTimer = context.eventLoop.assumeIsolated().scheduleTask(in: closeTimeout) {
                    if self.machine.closeTimedOut() { self.closeChannel(context: context) }
                }
            } else {
                _ = machine.closeTimedOut()
                closeChannel(context: context)
            }
        case .joinPendingClose:
            if let promise {
                if let pending = pendingClosePromise {
                    pending.futureResult.cascade(to: promise)
                } else {
                    pendingClosePromise = promise
                }
            }
        }
    }

    /// Encrypts every flushed write and sends the records in one buffer.
    private func encryptPendingWrites(context: ChannelHandlerContext) {
        guard flushedWriteCount > 0, let connection else { return }
        let batch = pendingWrites.prefix(flushedWriteCount)
        pendingWrites.removeFirst(flushedWriteCount)
        flushedWriteCount = 0
        var combined: EventLoopPromise<Void>?
        for (_, promise) in batch {
            guard let promise else { continue }
            if combined == nil { combined = context.eventLoop.makePromise() }
            combined!.futureResult.cascade(to: promise)
        }
        for (data, _) in batch {
            if case .failed(let error) = connection.write(data) {
                combined?.fail(error)
                perform(machine.protocolFailed(error), context: context)
                return
            }
        }
        if let output = connection.takeOutput(allocator: context.channel.allocator) {
            context.writeAndFlush(wrapOutboundOut(output), promise: combined)
        } else {
            combined?.succeed()
        }
    }

    private func sendCiphertext(context: ChannelHandlerContext) {
        guard let output = connection?.takeOutput(allocator: context.channel.allocator) else { return }
        context.writeAndFlush(wrapOutboundOut(output), promise: nil)
    }

    // MARK: Helpers

    private func perform(_ action: TLSServerStateMachine.FailureAction, context: ChannelHandlerContext) {
        guard case .reportAndClose(let error) = action else { return }
        handshakeTimer?.cancel()
        handshakeTimer = nil
        failPendingWrites(error)
        context.fireErrorCaught(error)
        closeChannel(context: context)
    }

    private func closeChannel(context: ChannelHandlerContext) {
        closeTimer?.cancel()
        closeTimer = nil
        let promise = pendingClosePromise
        pendingClosePromise = nil
        context.close(promise: promise)
    }

    private func startHandshakeTimer(context: ChannelHandlerContext) {
        guard handshakeTimer == nil, machine.state == .handshaking else { return }
        let timeout = handshakeTimeout
        handshakeTimer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            self.handshakeTimer = nil
            let seconds = Double(timeout.nanoseconds) / 1e9
            self.perform(self.machine.handshakeTimedOut(seconds: seconds), context: context)
        }
    }

    private func failPendingWrites(_ error: any Error) {
        let writes = pendingWrites
        pendingWrites = []
        flushedWriteCount = 0
        for (_, promise) in writes { promise?.fail(error) }
    }

    private func releaseResources(error: any Error) {
        handshakeTimer?.cancel()
        handshakeTimer = nil
        closeTimer?.cancel()
        closeTimer = nil
        failPendingWrites(error)
        pendingClosePromise?.fail(error)
        pendingClosePromise = nil
        connection?.free()
        connection = nil
    }
}

@available(*, unavailable)
extension TLSServerHandler: Sendable {}
