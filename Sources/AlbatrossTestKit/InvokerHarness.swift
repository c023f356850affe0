public import AlbatrossApp
public import Configuration
import Foundation
public import Invocation
public import InvocationModel
public import LambdaModel
public import NIOCore
public import NIOPosix
public import Observability

/// A real invoker with real environments, event loops and log files in a temporary data directory: the
/// application `albatross invoke` uses (``AlbatrossApplication`` without listeners), from function
/// configurations instead of a file, and without the store (only `$LATEST` runs).
public final class InvokerHarness: Sendable {
    public let application: AlbatrossApplication
    private let running: Task<Void, any Error>

    /// `configure` adjusts the configuration made from `functions` (environment settings, concurrency).
    public init(
        functions: [FunctionConfiguration], dataDirectory: String, idleTimeout: TimeAmount = .minutes(10),
        controlGroups: Bool = true, freezeIdle: Bool = true,
        configure: (inout AlbatrossConfiguration) -> Void = { _ in }
    ) throws {
        var configuration = AlbatrossConfiguration(dataDirectory: dataDirectory, functions: functions)
        configuration.environments.defaultPythonInterpreter = PackagePaths.venvPython
        configuration.environments.controlGroups = controlGroups
        configuration.environments.freezeIdle = freezeIdle
        // `ALBATROSS_ISOLATION` (process when unset), before `configure`, so that a test of one mode keeps it.
        configuration.environments.isolation = AlbatrossApplication.Options.isolationFromEnvironment ?? .process
        configure(&configuration)
        application = try AlbatrossApplication(
            configuration: configuration,
            options: .init(
                eventLoopThreads: 2, usesStore: false, listeners: false, watchesChanges: false,
                idleTimeout: idleTimeout
            ).withIsolation(nil))
        running = Task { [application] in try await application.run() }
    }

    public var group: MultiThreadedEventLoopGroup { application.group }
    public var threadPool: NIOThreadPool { application.threadPool }
    public var logSink: LogSink { application.logSink }
    public var events: InvocationEventBus { application.events }
    public var invoker: Invoker { application.invoker }
    public var dataDirectory: String { application.configuration.dataDirectory }

    /// Invokes and waits.
    public func invoke(
        _ name: String, _ payload: String = "{}", qualifier: String? = nil, wantsReport: Bool = false
    ) async throws
        -> InvocationOutcome
    {
        try await application.invoke(
            InvokeRequest(
                functionName: name, qualifier: qualifier, payload: ByteBuffer(string: payload),
                wantsReport: wantsReport))
    }

    /// Stops every environment, waits for the processes to be reaped, flushes logs, stops threads (the
    /// application's graceful shutdown).
    public func shutdown() async throws {
        await application.requestShutdown()
        try await running.value
    }

    /// The lines of a log stream file (timestamps stripped).
    public func logLines(functionName: String, streamName: String) -> [String] {
        logSink.flush()
        let path = "\(dataDirectory)/aws/lambda/\(functionName)/\(streamName)"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return text.split(separator: "\n", omittingEmptySubsequences: true).map { line in
            guard let space = line.firstIndex(of: " ") else { return String(line) }
            return String(line[line.index(after: space)...])
        }
    }
}

extension InvocationOutcome {
    /// The payload as text.
    public var text: String { String(buffer: payload) }
}

extension AlbatrossApplication.Options {
    /// These options with `isolation` set.
    public func withIsolation(_ isolation: EnvironmentSettings.Isolation?) -> Self {
        var options = self
        options.isolation = isolation
        return options
    }
}
