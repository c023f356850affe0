import Foundation

/// The built `albatross` executable run as a user runs it, one command at a time: end-to-end tests of the CLI
/// assert on exactly what a user sees (standard output, standard error, exit status), not on in-process wiring.
public enum AlbatrossCommand {
    /// What a finished command printed and how it ended.
    public struct Result: Sendable, CustomStringConvertible {
        public var status: Int32
        /// Whether it ended by `exit` (false: killed by a signal, e.g. after the timeout).
        public var exited: Bool
        public var stdout: String
        public var stderr: String

        /// Standard output split into lines, without the empty string after the last newline.
        public var lines: [String] {
            var lines = stdout.components(separatedBy: "\n")
            if lines.last == "" { lines.removeLast() }
            return lines
        }

        public var description: String { "exit \(status)\n--- stdout\n\(stdout)--- stderr\n\(stderr)" }
    }

    /// The built executable; throws when it has not been built (`swift build`).
    public static func executable() throws -> String {
        guard let path = PackagePaths.albatrossExecutable else {
            throw ChildProcessError("build the albatross executable first (swift build)")
        }
        return path
    }

    /// Runs `albatross <arguments>` to completion (killed by its pid after `timeout` seconds).
    public static func run(_ arguments: [String], timeout: Double = 60) async throws -> Result {
        try await run(executable: executable(), arguments, timeout: timeout)
    }

    /// Runs any program to completion (killed by its pid after `timeout` seconds), waiting off the cooperative
    /// pool; both streams are drained while it runs, so a chatty child never blocks on a full pipe. `environment`
    /// is added to this process's.
    public static func run(
        executable: String, _ arguments: [String], environment: [String: String] = [:], timeout: Double = 60
    ) async throws -> Result {
        try await offPool {
            try runBlocking(executable: executable, arguments, environment: environment, timeout: timeout)
        }
    }

    static func runBlocking(
        executable: String, _ arguments: [String], environment: [String: String] = [:], timeout: Double
    ) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let out = PipeReader(stdout.fileHandleForReading)
        let err = PipeReader(stderr.fileHandleForReading)
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(5_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus, exited: process.terminationReason == .exit,
            stdout: out.waitForEnd(), stderr: err.waitForEnd())
    }
}

/// A failure of a test helper that runs a child process, with what the child printed.
public struct ChildProcessError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// How a child process ended, and everything it printed.
public struct ChildOutcome: Sendable {
    public var status: Int32
    /// Whether it ended by `exit` (false: killed by a signal).
    public var exited: Bool
    public var output: String
}

/// A long-running child process (a server, a client that holds a connection open) whose output a test reads while
/// it runs: collected continuously on a thread of its own, so a full pipe never stalls the child. Stopped by its
/// pid: SIGTERM first, SIGKILL (also to the process groups of its own children) when it does not exit in time.
///
/// `@unchecked Sendable` so that waiting can happen off the cooperative pool: `Process`'s pid, `isRunning` and
/// exit status may be read from any thread, and the collected output is behind a lock. One test drives it.
public final class BackgroundProcess: @unchecked Sendable {
    private let process: Process
    private let reader: PipeReader

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }
    /// Everything it printed so far (standard output and standard error, interleaved).
    public var output: String { reader.text }

    /// Starts `executable` (a path, or a command looked up on `PATH` when it has no `/`) with `arguments`.
    public init(_ executable: String, _ arguments: [String]) throws {
        process = Process()
        if executable.contains("/") {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [executable] + arguments
        }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        try process.run()
        reader = PipeReader(pipe.fileHandleForReading)
    }

    deinit { cleanUp() }

    /// Waits up to `timeout` seconds until the output contains `text` at least `count` times.
    public func waitForOutput(_ text: String, count: Int = 1, timeout: Double = 20) async -> Bool {
        await eventually(seconds: timeout) { self.occurrences(of: text) >= count }
    }

    /// How often `text` occurs in the output so far.
    public func occurrences(of text: String) -> Int {
        output.components(separatedBy: text).count - 1
    }

    public func signal(_ number: Int32) {
        if process.isRunning { kill(pid, number) }
    }

    /// Waits up to `timeout` seconds for the process to exit by itself; nil when it is still running.
    public func waitForExit(timeout: Double) async -> ChildOutcome? {
        guard await eventually(seconds: timeout, { !self.process.isRunning }) else { return nil }
        return finish()
    }

    /// Stops it: SIGTERM, then, if it still runs after `timeout` seconds, SIGKILL to the process groups of its
    /// children and to itself.
    @discardableResult
    public func stop(timeout: Double = 20) async -> ChildOutcome {
        if process.isRunning {
            kill(pid, SIGTERM)
            if !(await eventually(seconds: timeout) { !self.process.isRunning }) { killHard() }
        }
        return finish()
    }

    /// For `defer` and `deinit`, after a test failed half-way: stops it at once if it still runs (SIGTERM, up to
    /// 10 s, then SIGKILL).
    public func cleanUp() {
        guard process.isRunning else { return }
        kill(pid, SIGTERM)
        if !ProcessTree.wait(seconds: 10, until: { !process.isRunning }) { killHard() }
        process.waitUntilExit()
    }

    private func killHard() {
        for child in ProcessTree.children(of: pid) { kill(-child, SIGKILL) }
        kill(pid, SIGKILL)
    }

    private func finish() -> ChildOutcome {
        process.waitUntilExit()
        return ChildOutcome(
            status: process.terminationStatus, exited: process.terminationReason == .exit,
            output: reader.waitForEnd())
    }
}

/// `albatross serve` as a user starts it: a configuration file, real listeners on ports the OS chose, signals.
/// Every listener the server announces is parsed from its output, HTTP and HTTPS alike.
public final class ServeProcess: Sendable {
    /// A listener the server announced (`albatross: listening on <scheme>://127.0.0.1:<port> (...)`).
    public struct Listener: Sendable, Hashable {
        public var scheme: String
        public var port: Int
    }

    public let child: BackgroundProcess
    public let listeners: [Listener]

    public var pid: Int32 { child.pid }
    /// The port of the first listener.
    public var port: Int { listeners[0].port }
    public var output: String { child.output }

    private init(child: BackgroundProcess, listeners: [Listener]) {
        self.child = child
        self.listeners = listeners
    }

    /// Starts `albatross serve --config <configPath> <arguments>` and waits until it announced `listenerCount`
    /// listeners. Throws, with its output, when it exits or does not get there within `startTimeout` seconds.
    /// `wrapper`: a command that runs the server as its arguments (it must exec them, so that ``pid`` is the
    /// server's): `unshare ...`, for example. `executable`: another `albatross` than the build's.
    public static func start(
        configPath: String, arguments: [String] = [], listenerCount: Int = 1, startTimeout: Double = 30,
        wrapper: [String] = [], executable: String? = nil
    ) async throws -> ServeProcess {
        let albatross = try executable ?? AlbatrossCommand.executable()
        let command = wrapper + [albatross, "serve", "--config", configPath] + arguments
        let child = try BackgroundProcess(command[0], Array(command.dropFirst()))
        var found: [Listener] = []
        _ = await eventually(seconds: startTimeout) {
            found = listeners(in: child.output)
            return found.count >= listenerCount || !child.isRunning
        }
        guard found.count >= listenerCount else {
            let outcome = await child.stop(timeout: 5)
            throw ChildProcessError("albatross serve did not announce \(listenerCount) listener(s):\n\(outcome.output)")
        }
        return ServeProcess(child: child, listeners: found)
    }

    static func listeners(in text: String) -> [Listener] {
        text.matches(of: #/albatross: listening on (https?)://127\.0\.0\.1:(\d+) /#).map {
            Listener(scheme: String($0.1), port: Int($0.2)!)
        }
    }

    /// The port of the first listener with this scheme (`http` or `https`).
    public func port(scheme: String) -> Int? { listeners.first { $0.scheme == scheme }?.port }

    /// The admin listener's port, once the server has announced it (`admin listener on http://127.0.0.1:<port>`;
    /// it binds after the ALB listeners); nil when it does not within `timeout` seconds.
    public func adminPort(timeout: Double = 20) async -> Int? {
        guard await waitForOutput("admin listener on http://127.0.0.1:", timeout: timeout) else { return nil }
        return output.firstMatch(of: #/admin listener on http://127\.0\.0\.1:(\d+)/#).flatMap { Int($0.1) }
    }

    public func waitForOutput(_ text: String, count: Int = 1, timeout: Double = 20) async -> Bool {
        await child.waitForOutput(text, count: count, timeout: timeout)
    }

    public func occurrences(of text: String) -> Int { child.occurrences(of: text) }

    public func signal(_ number: Int32) { child.signal(number) }

    /// SIGTERM, and SIGKILL after `timeout` seconds; see ``BackgroundProcess/stop(timeout:)``.
    @discardableResult
    public func stop(timeout: Double = 20) async -> ChildOutcome { await child.stop(timeout: timeout) }

    /// See ``BackgroundProcess/cleanUp()``.
    public func cleanUp() { child.cleanUp() }
}

/// Drains one pipe on a thread of its own until end of file, so the writer never blocks.
final class PipeReader: @unchecked Sendable {
    // Guarded by `lock`; written by the reading thread, read by the test.
    private let lock = NSLock()
    private var collected: [UInt8] = []
    private let done = DispatchSemaphore(value: 0)
    /// Kept so that its descriptor stays open while the thread reads it.
    private let handle: FileHandle

    init(_ handle: FileHandle) {
        self.handle = handle
        let fd = handle.fileDescriptor
        let thread = Thread { [self] in
            var chunk = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                lock.withLock { collected.append(contentsOf: chunk[..<n]) }
            }
            done.signal()
        }
        thread.start()
    }

    var text: String { String(decoding: lock.withLock { collected }, as: UTF8.self) }

    /// Waits for end of file (the writer exited and closed its end) and returns everything read.
    func waitForEnd() -> String {
        done.wait()
        done.signal()
        return text
    }
}

/// Ports the OS considers free, for configurations that must name a port before the server starts (a redirect
/// to another listener). The port is bound to 127.0.0.1:0 and released again; a test uses it at once.
public enum FreePort {
    public static func next() throws -> Int {
        let (fd, port) = try boundSocket()
        close(fd)
        return port
    }

    /// A TCP socket bound to 127.0.0.1 on a port the OS chose, and that port; the caller listens on it (or not) and
    /// closes it.
    public static func boundSocket() throws -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ChildProcessError("socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else {
            let error = errno
            close(fd)
            throw ChildProcessError("bind to 127.0.0.1:0: errno \(error)")
        }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }
}
