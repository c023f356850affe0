import AlbatrossTestKit
import Foundation
import LambdaModel
import Registry
import Testing

/// A registry in a fresh temporary data directory, plus helpers to write code directories.
final class RegistryFixture {
    let directory: TemporaryDirectory
    let account = AccountContext(region: "eu-west-1", accountID: "111122223333")
    var dataDirectory: String { directory.url("data") }
    private(set) var registry: Registry

    init() throws {
        directory = try TemporaryDirectory(prefix: "albatross-registry")
        registry = try Registry(dataDirectory: directory.url("data"), account: account)
    }

    deinit { directory.remove() }

    /// Opens a second registry on the same data directory, as a restarted server would.
    func reopen() throws -> Registry {
        registry = try Registry(dataDirectory: dataDirectory, account: account)
        return registry
    }

    /// Writes a code directory `code/<name>` with the given files and returns its path.
    @discardableResult
    func codeDirectory(_ name: String, _ files: [String: String]) throws -> String {
        for (path, content) in files {
            try directory.write("code/\(name)/\(path)", content, executable: path == "bootstrap")
        }
        return directory.url("code/\(name)")
    }

    func configuration(
        _ name: String = "orders", code: String, memorySize: Int = 128, environment: [String: String] = [:]
    ) -> FunctionConfiguration {
        FunctionConfiguration(
            name: name, runtime: Runtime(identifier: "provided.al2023")!, handler: "handler",
            code: .directory(code), memorySize: memorySize,
            environment: environment.sorted { $0.key < $1.key }.map {
                EnvironmentVariable(name: $0.key, value: $0.value)
            })
    }

    /// A function `orders` with one file and the given environment, put as `$LATEST`.
    @discardableResult
    func putOrders(
        body: String = "v1", memorySize: Int = 128, environment: [String: String] = [:]
    ) throws
        -> FunctionVersionRecord
    {
        let code = try codeDirectory("orders-\(body)", ["bootstrap": "#!/bin/sh\necho \(body)\n"])
        return try registry.putLatest(configuration(code: code, memorySize: memorySize, environment: environment))
    }
}

/// Runs a shell command and returns its standard output.
func shell(_ command: String) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", command]
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    #expect(process.terminationStatus == 0, "command failed: \(command)")
    return String(decoding: output, as: UTF8.self)
}

/// Expects `body` to throw a RegistryError with the given AWS error type and message.
func expectRegistryError(
    _ type: String, _ message: String, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> Void
) {
    do {
        try body()
        Issue.record("expected \(type): \(message)", sourceLocation: sourceLocation)
    } catch let error as RegistryError {
        #expect(error.errorType == type, sourceLocation: sourceLocation)
        #expect(error.message == message, sourceLocation: sourceLocation)
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
}

/// The RegistryError `body` throws; records an issue and returns nil when it throws nothing or something else.
func registryError(
    sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
) -> RegistryError? {
    do {
        try body()
        Issue.record("expected a RegistryError", sourceLocation: sourceLocation)
    } catch let error as RegistryError {
        return error
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

/// A value shared between the threads of a test.
final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()
    init(_ value: Value) { self.value = value }
    func withLock<T>(_ body: (inout Value) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}
