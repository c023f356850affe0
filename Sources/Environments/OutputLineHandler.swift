import NIOCore

/// Splits a runtime's (or an extension's) merged stdout/stderr into lines for its log stream.
///
/// Lines are bounded (256 KiB, CloudWatch's event size); a longer line is cut into several events.
final class OutputLineHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    static let maximumLineLength = 256 * 1024
    private let environment: ExecutionEnvironment
    /// The output of an extension rather than the runtime's.
    private let fromExtension: Bool
    private var partial = ByteBuffer()

    init(environment: ExecutionEnvironment, fromExtension: Bool = false) {
        self.environment = environment
        self.fromExtension = fromExtension
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
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
