import Foundation
public import Invocation
public import InvocationModel
public import LambdaModel
public import NIOCore
public import NIOPosix
public import Observability

/// A real invoker with real environments, event loops and log files in a temporary data directory.
public final class InvokerHarness: Sendable {
    public let group: MultiThreadedEventLoopGroup
    public let threadPool: NIOThreadPool
    public let logSink: LogSink
    public let events: InvocationEventBus
    public let invoker: Invoker
    public let dataDirectory: String

    public init(
        functions: [FunctionConfiguration], dataDirectory: String, idleTimeout: TimeAmount = .minutes(10)
    ) throws {
        self.dataDirectory = dataDirectory
        group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        threadPool = NIOThreadPool(numberOfThreads: 2)
        threadPool.start()
        logSink = LogSink(dataDirectory: dataDirectory)
        events = InvocationEventBus()
        logSink.attach(to: events)
        var roots: [String: String] = [:]
        for function in functions {
            roots[function.name] = try CodePreparer.taskRoot(for: function, dataDirectory: dataDirectory)
        }
        invoker = Invoker(
            functions: functions, taskRoots: roots,
            settings: InvokerSettings(idleTimeout: idleTimeout, defaultPythonInterpreter: PackagePaths.venvPython),
            group: group, threadPool: threadPool, events: events)
    }

    /// Invokes and waits.
    public func invoke(
        _ name: String, _ payload: String = "{}", wantsReport: Bool = false
    ) async throws
        -> InvocationOutcome
    {
        var outcome = try await invoker.invoke(
            Invoker.Request(functionName: name, payload: ByteBuffer(string: payload), wantsReport: wantsReport),
            on: group.next()
        ).get()
        if wantsReport {
            await logSink.flushed()
            outcome.reportLine = logSink.reportLine(requestID: outcome.requestID)
        }
        return outcome
    }

    /// Stops every environment, waits for the processes to be reaped, flushes logs, stops threads.
    public func shutdown() async throws {
        try await invoker.shutdown(on: group.next()).get()
        logSink.shutdown()
        events.shutdown()
        try await threadPool.shutdownGracefully()
        try await group.shutdownGracefully()
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
