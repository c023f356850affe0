import AlbatrossApp
import ArgumentParser
import Foundation
import Invocation
import InvocationModel
import NIOCore

/// `albatross invoke`: one synchronous invoke through the same Invoker the load balancer uses.
struct Invoke: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Invoke a function once and print its result.",
        discussion: """
            The result goes to standard output. A function error is reported on standard error as \
            `FunctionError: Unhandled` with its type, and the exit status stays 0, as with `aws lambda invoke`. \
            Errors before the function runs (unknown function, throttling) exit with status 1.
            """)

    @Argument(help: "The function name, optionally with a qualifier (name:$LATEST).")
    var name: String

    @Option(name: .shortAndLong, help: "The YAML configuration file.")
    var config: String

    @Option(name: .shortAndLong, help: "The event: JSON text, or @file to read it from a file, or @- for stdin.")
    var payload: String = "{}"

    @Flag(name: .long, help: "Also print the log stream name and the REPORT line (on standard error).")
    var log = false

    func run() async throws {
        let event: Data
        do {
            event = try readPayload()
        } catch {
            ConsoleOutput.error("albatross: \(error)")
            throw ExitCode(1)
        }
        let application: AlbatrossApplication
        do {
            application = try AlbatrossApplication(
                configurationPath: config, options: .init(listeners: false, watchesChanges: false))
        } catch {
            ConsoleOutput.error("albatross: \(error)")
            throw ExitCode(1)
        }
        let parts = name.split(separator: ":", maxSplits: 1).map(String.init)
        let request = Invoker.Request(
            functionName: parts[0], qualifier: parts.count > 1 ? parts[1] : nil, payload: ByteBuffer(bytes: event),
            wantsReport: log)
        let result: Result<InvocationOutcome, any Error>
        do {
            result = try await application.whileRunning {
                do {
                    return .success(try await application.invoke(request))
                } catch {
                    return .failure(error)
                }
            }
        } catch {
            ConsoleOutput.error("albatross: \(error)")
            throw ExitCode(1)
        }
        switch result {
        case .success(let outcome):
            FileHandle.standardOutput.write(Data(outcome.payload.readableBytesView))
            if !outcome.payload.readableBytesView.isEmpty { FileHandle.standardOutput.write(Data("\n".utf8)) }
            if let functionError = outcome.functionError {
                ConsoleOutput.error("FunctionError: \(functionError) (\(outcome.errorType ?? "unknown"))")
            }
            if log {
                ConsoleOutput.error("Log stream: \(outcome.logStreamName)")
                if let report = outcome.reportLine { ConsoleOutput.error(report) }
            }
        case .failure(let error):
            ConsoleOutput.error("albatross: \(error)")
            throw ExitCode(1)
        }
    }

    private func readPayload() throws -> Data {
        if payload == "@-" { return FileHandle.standardInput.readDataToEndOfFile() }
        if payload.hasPrefix("@") {
            let path = String(payload.dropFirst())
            guard let data = FileManager.default.contents(atPath: path) else {
                throw CommandFailure("cannot read the payload file \(path)")
            }
            return data
        }
        return Data(payload.utf8)
    }
}
