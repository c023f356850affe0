import AlbatrossTLS
import Foundation
import NIOCore
import NIOPosix

/// A real TLS listener on 127.0.0.1:0 with `TLSServerHandler` and a tiny HTTP/1.1 responder behind it.
final class TestTLSServer {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let channel: any Channel
    var port: Int { channel.localAddress!.port! }

    init(context: TLSServerContext, handshakeTimeout: TimeAmount? = nil) throws {
        channel = try ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers(
                        TLSServerHandler(context: context, handshakeTimeout: handshakeTimeout), HTTPResponder()
                    )
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
    }

    func stop() {
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }

    /// Opens a plain TCP connection, sends `bytes`, and returns how long the server took to close it
    /// (nil: still open after `limit` seconds).
    func rawConnection(sending bytes: [UInt8], limit: Double = 5) throws -> Double? {
        let start = Date()
        let client = try ClientBootstrap(group: group).connect(host: "127.0.0.1", port: port).wait()
        if !bytes.isEmpty { try client.writeAndFlush(ByteBuffer(bytes: bytes)).wait() }
        let deadline = Date().addingTimeInterval(limit)
        while client.isActive && Date() < deadline { usleep(10_000) }
        let elapsed = client.isActive ? nil : Date().timeIntervalSince(start)
        try? client.close().wait()
        return elapsed
    }
}

/// Answers each HTTP/1.1 request (keep-alive, pipelined) with the TLS parameters of the connection.
final class HTTPResponder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var pending: [UInt8] = []
    private var tls: TLSHandshakeCompleted?

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSHandshakeCompleted { tls = event }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        pending += buffer.readBytes(length: buffer.readableBytes) ?? []
        let terminator: [UInt8] = Array("\r\n\r\n".utf8)
        var wantsClose = false
        while let end = pending.firstRange(of: terminator) {
            let head = String(decoding: pending[..<end.lowerBound], as: UTF8.self)
            pending.removeSubrange(..<end.upperBound)
            let path = head.split(separator: " ").dropFirst().first.map(String.init) ?? "-"
            wantsClose = wantsClose || head.lowercased().contains("connection: close")
            let body =
                "ok \(tls?.protocolVersion ?? "-") \(tls?.cipherSuite ?? "-") sni=\(tls?.serverName ?? "-") "
                + "alpn=\(tls?.alpn ?? "-") path=\(path)\n"
            let response =
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: \(body.utf8.count)\r\n\r\n"
                + body
            context.write(wrapOutboundOut(ByteBuffer(string: response)), promise: nil)
        }
        context.flush()
        if wantsClose { context.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// The result of a finished child process.
struct ProcessResult {
    var status: Int32
    var stdout: String
    var stderr: String
    var output: String { stdout + stderr }
}

/// Runs a command with a deadline; the child is killed by its pid on timeout and always reaped.
func runProcess(_ arguments: [String], stdin: String? = nil, timeout: Double = 20) throws -> ProcessResult {
    try ChildProcess(arguments, stdin: stdin).wait(timeout: timeout)
}

/// A child process started now and waited for later (killed by pid if it outlives its deadline).
final class ChildProcess {
    private let process = Process()
    private let readers = DispatchGroup()
    private let collected = Collected()
    private var reaped = false

    init(_ arguments: [String], stdin: String? = nil) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        let input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        for (pipe, isStdout) in [(out, true), (err, false)] {
            readers.enter()
            DispatchQueue.global().async { [collected, readers] in
                let data = pipe.fileHandleForReading.readDataToEndOfFile()
                collected.set(String(decoding: data, as: UTF8.self), stdout: isStdout)
                readers.leave()
            }
        }
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try? input.fileHandleForWriting.close()
    }

    func wait(timeout: Double) -> ProcessResult {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        readers.wait()
        reaped = true
        return ProcessResult(status: process.terminationStatus, stdout: collected.stdout, stderr: collected.stderr)
    }

    deinit {
        if !reaped { _ = wait(timeout: 0) }
    }
}

private final class Collected: @unchecked Sendable {
    private let lock = NSLock()
    private var values = ["", ""]
    func set(_ value: String, stdout: Bool) { lock.withLock { values[stdout ? 0 : 1] = value } }
    var stdout: String { lock.withLock { values[0] } }
    var stderr: String { lock.withLock { values[1] } }
}
