import Configuration
import Foundation
import Invocation
import LambdaModel
import NIOCore
import NIOPosix
import Observability

/// The parts `serve` and `invoke` share: configuration, event loops, logs and the invoker.
final class PlatformRuntime: Sendable {
    let configuration: AlbatrossConfiguration
    let group: MultiThreadedEventLoopGroup
    let threadPool: NIOThreadPool
    let logSink: LogSink
    let invoker: Invoker

    init(configurationPath: String, mirrorLogs: Bool) throws {
        let configuration: AlbatrossConfiguration
        do {
            configuration = try ConfigurationLoader.load(path: configurationPath)
        } catch {
            throw CommandFailure("\(error)")
        }
        self.configuration = configuration
        do {
            try FileManager.default.createDirectory(
                atPath: configuration.dataDirectory, withIntermediateDirectories: true)
        } catch {
            throw CommandFailure("cannot create the data directory \(configuration.dataDirectory): \(error)")
        }
        var roots: [String: String] = [:]
        for function in configuration.functions {
            do {
                roots[function.name] = try CodePreparer.taskRoot(
                    for: function, dataDirectory: configuration.dataDirectory)
            } catch {
                throw CommandFailure("\(error)")
            }
        }
        group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        threadPool = NIOThreadPool(numberOfThreads: 2)
        threadPool.start()
        var mirror: (@Sendable (String) -> Void)? = nil
        if mirrorLogs { mirror = { @Sendable line in ConsoleOutput.line(line) } }
        logSink = LogSink(dataDirectory: configuration.dataDirectory, mirror: mirror)
        let settings = InvokerSettings(
            account: configuration.account,
            idleTimeout: .seconds(Int64(configuration.environments.idleTimeoutSeconds)),
            defaultPythonInterpreter: configuration.environments.defaultPythonInterpreter)
        invoker = Invoker(
            functions: configuration.functions, taskRoots: roots, settings: settings, group: group,
            threadPool: threadPool, logSink: logSink)
    }

    /// Stops environments (waiting until their processes are reaped), then logs and threads.
    func shutdown() async {
        try? await invoker.shutdown(on: group.next()).get()
        logSink.shutdown()
        try? await threadPool.shutdownGracefully()
        try? await group.shutdownGracefully()
    }
}

/// A failure the user can act on; printed without a stack, exit status 1.
struct CommandFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Serialised writes to standard output and error, safe from any thread.
enum ConsoleOutput {
    private static let lock = NSLock()

    static func line(_ text: String) {
        write(text + "\n", to: FileHandle.standardOutput)
    }

    static func error(_ text: String) {
        write(text + "\n", to: FileHandle.standardError)
    }

    private static func write(_ text: String, to handle: FileHandle) {
        lock.lock()
        defer { lock.unlock() }
        handle.write(Data(text.utf8))
    }
}
