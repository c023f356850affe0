import ALBEvents
import NIOCore
import NIOHTTP1

/// Bounds the time a request's head may take to arrive, from its first byte, however slowly the bytes trickle
/// in (slowloris: every byte restarts the idle timer, so the idle timeout alone would keep such a connection for
/// ever). When the deadline passes the client gets the ALB's 408 page with `Connection: close` (or, while an
/// earlier request on the connection is still being answered, just the close) and the connection is closed.
///
/// It sits right after the HTTP decoder, before the ALB handler, so it sees each head when it is parsed (a
/// pipelined head is complete even while the ALB handler holds it back). A read that produced no
/// request part while a head was awaited carried the first bytes of one: only then is a timer armed, so a head
/// that arrives in one read (the usual case) costs no timer. Bytes of the next head that arrive in the same read
/// as the end of the previous request start the deadline at the next read (at worst the idle timeout applies).
/// The ALB handler tells it when each answer has been written (``responseEnded()``), so it knows whether one is
/// still owed.
final class RequestHeadDeadlineHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundOut = ByteBuffer

    private let timeout: TimeAmount
    /// Between the end of a request (or the connection's start) and the next head.
    private var awaitingHead = true
    /// Whether the current read produced any request part.
    private var partsInRead = false
    /// Heads seen whose response has not ended.
    private var owedResponses = 0
    private var timer: Scheduled<Void>?

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        partsInRead = true
        switch unwrapInboundIn(data) {
        case .head:
            awaitingHead = false
            owedResponses += 1
            if let timer {
                timer.cancel()
                self.timer = nil
            }
        case .end:
            awaitingHead = true
        case .body:
            break
        }
        context.fireChannelRead(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if awaitingHead, !partsInRead, timer == nil { arm(context: context) }
        partsInRead = false
        context.fireChannelReadComplete()
    }

    /// An answer has been written in full.
    func responseEnded() {
        if owedResponses > 0 { owedResponses -= 1 }
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancel()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancel()
    }

    private func cancel() {
        timer?.cancel()
        timer = nil
    }

    private func arm(context: ChannelHandlerContext) {
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            self.timer = nil
            self.expired(context: context)
        }
    }

    private func expired(context: ChannelHandlerContext) {
        guard context.channel.isActive else { return }
        guard owedResponses == 0 else {
            // A response is still being written or awaited: a 408 now would land inside it.
            context.close(promise: nil)
            return
        }
        var date = HTTPDateCache()
        let page = ALBErrorPage.response(status: 408, allocator: context.channel.allocator)
        var bytes = context.channel.allocator.buffer(capacity: 256 + page.body.readableBytes)
        page.writeHead(into: &bytes, date: date.current(), keepAlive: false)
        var body = page.body
        bytes.writeBuffer(&body)
        context.writeAndFlush(wrapOutboundOut(bytes)).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }
}

@available(*, unavailable)
extension RequestHeadDeadlineHandler: Sendable {}
