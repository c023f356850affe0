import Foundation
import LambdaModel
import NIOCore

/// `albatross bench --baseline spawn`: starts a function's runtime the way the platform does in `process` isolation
/// (the same command line, environment and spawn helper, ``RuntimeLauncher``) but with
/// nothing else around it: a bare Runtime API socket of its own, no environment state machine, no event loop,
/// no log pipe reader. It measures spawn → the runtime's first `GET /next`, the reference that tells how much of
/// a cold start under the platform is the platform's own.
public enum BareRuntimeLauncher {
    /// One measurement, in milliseconds. Blocking (spawns, accepts, reads): call it from a thread that may
    /// block. The runtime is killed (its whole process group) and reaped before it returns.
    public static func spawnToFirstNext(spec: EnvironmentSpec, timeoutSeconds: Double = 30) throws -> Double {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0 else { throw LaunchError(description: "socket: \(errnoText(errno))") }
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, length) == 0 && listen(listener, 8) == 0
                    && getsockname(listener, $0, &length) == 0
            }
        }
        guard bound else { throw LaunchError(description: "cannot bind 127.0.0.1:0: \(errnoText(errno))") }
        let port = Int(UInt16(bigEndian: address.sin_port))
        let scratch = NSTemporaryDirectory() + "albatross-baseline-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        // Started directly: without the sandbox too, whose cost is the platform's share of a sandboxed start.
        var direct = spec
        direct.sandbox = nil
        let start = NIODeadline.now()
        let process = try RuntimeLauncher.launch(
            spec: direct, runtimeAPI: "127.0.0.1:\(port)", logStreamName: "baseline",
            logGroupName: "/aws/lambda/\(spec.function.name)", scratchDirectory: scratch)
        // Drains the runtime's output so that it never blocks on a full pipe; it ends when the process group is
        // gone (the pipe's last writer), and only then is the descriptor closed.
        let output = process.outputFD
        let drained = DispatchSemaphore(value: 0)
        let drain = Thread {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while buffer.withUnsafeMutableBytes({ read(output, $0.baseAddress!, $0.count) }) > 0 {}
            drained.signal()
        }
        drain.start()
        defer {
            ProcessLauncher.killGroup(process.pid)
            var status: Int32 = 0
            waitpid(process.pid, &status, 0)
            // A descendant that left the process group could keep the pipe open: then the descriptor is left to
            // the drain thread rather than closed under it.
            if drained.wait(timeout: .now() + 5) == .success { close(output) }
        }
        var poller = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, Int32(timeoutSeconds * 1000)) == 1 else {
            throw LaunchError(description: "the runtime did not connect within \(timeoutSeconds) s")
        }
        let connection = accept(listener, nil, nil)
        guard connection >= 0 else { throw LaunchError(description: "accept: \(errnoText(errno))") }
        defer { close(connection) }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while String(decoding: received, as: UTF8.self).range(of: "\r\n") == nil {
            var connectionPoller = pollfd(fd: connection, events: Int16(POLLIN), revents: 0)
            guard poll(&connectionPoller, 1, Int32(timeoutSeconds * 1000)) == 1 else {
                throw LaunchError(description: "the runtime sent no request within \(timeoutSeconds) s")
            }
            let count = buffer.withUnsafeMutableBytes { read(connection, $0.baseAddress!, $0.count) }
            guard count > 0 else { throw LaunchError(description: "the runtime closed its connection") }
            received += buffer[0..<count]
        }
        let end = NIODeadline.now()
        let line = String(decoding: received, as: UTF8.self).prefix { $0 != "\r" }
        guard line.hasPrefix("GET "), line.contains("/runtime/invocation/next") else {
            throw LaunchError(description: "the runtime's first request was not /next: \(line)")
        }
        return Double((end - start).nanoseconds) / 1e6
    }
}
