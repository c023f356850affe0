import Foundation
import LambdaModel
import Registry
import Testing

/// `kill -9` of a process in the middle of putting, publishing and re-weighting leaves the old or the new state,
/// never half a version: every trial kills a worker at a random moment and checks the store's invariants.
struct CrashTests {
    static let workerVariable = "ALBATROSS_REGISTRY_CRASH_WORKER"
    static let account = AccountContext(region: "eu-west-1", accountID: "111122223333")

    /// The worker: run in a child process by ``killedWritersLeaveOldOrNewState()`` (the test binary runs itself
    /// with only this test selected); it mutates the registry in a loop until it is killed.
    @Test(.enabled(if: ProcessInfo.processInfo.environment[workerVariable] != nil))
    func crashWorker() throws {
        let data = ProcessInfo.processInfo.environment[Self.workerVariable]!
        let registry = try Registry(dataDirectory: data, account: Self.account)
        let code = "\(data)/../worker-code"
        var iteration = 0
        while true {
            iteration += 1
            try FileManager.default.createDirectory(atPath: code, withIntermediateDirectories: true)
            try "#!/bin/sh\necho \(iteration)-\(getpid())\n".write(
                toFile: "\(code)/bootstrap", atomically: true, encoding: .utf8)
            try String(repeating: "payload \(iteration) ", count: 200).write(
                toFile: "\(code)/data.txt", atomically: true, encoding: .utf8)
            try registry.putLatest(
                FunctionConfiguration(
                    name: "orders", runtime: Runtime(identifier: "provided.al2023")!, handler: "h",
                    code: .directory(code), memorySize: 128 + iteration % 1000,
                    environment: [EnvironmentVariable(name: "ITERATION", value: "secret-\(iteration)")]))
            let version = try registry.publishVersion(functionName: "orders")
            try registry.updateAlias(
                functionName: "orders", name: "live",
                routing: AliasRouting(
                    primaryVersion: "1", additionalVersion: version.version == "1" ? nil : version.version,
                    additionalWeight: Double(iteration % 100) / 100))
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func killedWritersLeaveOldOrNewState() throws {
        let fixture = try RegistryFixture()
        try fixture.putOrders(body: "seed")
        try fixture.registry.publishVersion(functionName: "orders")
        try fixture.registry.createAlias(
            functionName: "orders", name: "live", routing: AliasRouting(primaryVersion: "1"))
        let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")

        let started = Date()
        var trials = 0
        var generator = SystemRandomNumberGenerator()
        var lastCount = 1
        var grew = 0
        var published: [String: FunctionVersionRecord] = [:]
        while trials < 12 && Date().timeIntervalSince(started) < 12 {
            trials += 1
            let worker = Process()
            worker.executableURL = URL(fileURLWithPath: executable)
            worker.arguments = ["--testing-library", "swift-testing", "--filter", "CrashTests/crashWorker"]
            var environment = ProcessInfo.processInfo.environment
            environment[Self.workerVariable] = fixture.dataDirectory
            worker.environment = environment
            worker.standardOutput = FileHandle.nullDevice
            worker.standardError = FileHandle.nullDevice
            try worker.run()
            usleep(UInt32.random(in: 150_000...700_000, using: &generator))
            kill(worker.processIdentifier, SIGKILL)
            worker.waitUntilExit()
            #expect(worker.terminationReason == .uncaughtSignal, "the worker stopped on its own")

            // The state a restarted server would see.
            let registry = try fixture.reopen()
            let versions = try registry.versions(functionName: "orders")
            let numbers = versions.compactMap(\.number)
            #expect(versions.first?.version == "$LATEST")
            #expect(numbers == Array(1...numbers.count), "version numbers have a gap: \(numbers)")
            for version in versions {
                guard case .zip(let blob) = version.configuration.code else { continue }
                #expect(FileManager.default.fileExists(atPath: blob), "\(version.functionName):\(version.version)")
                // A version is one worker iteration's configuration, whole: its variable and memory size agree.
                guard let number = version.number, number > 1 else { continue }
                let iteration = version.configuration.environment.first.flatMap { Int($0.value.dropFirst(7)) }
                #expect(iteration.map { 128 + $0 % 1000 } == version.configuration.memorySize)
            }
            // Published versions never change once seen.
            for version in versions where version.number != nil {
                if let earlier = published[version.version] {
                    #expect(version == earlier, "version \(version.version) changed after a crash")
                }
                published[version.version] = version
            }
            let alias = try registry.alias(functionName: "orders", name: "live")
            for target in [alias.routing.primaryVersion] + (alias.routing.additionalVersion.map { [$0] } ?? []) {
                #expect(numbers.contains(Int(target) ?? -1), "alias points at missing version \(target)")
            }
            if numbers.count > lastCount { grew += 1 }
            lastCount = numbers.count
        }
        // The workers did publish between kills, so kills landed among real writes.
        #expect(grew >= trials / 3, "only \(grew) of \(trials) trials published anything")
        // The newest version still unpacks and matches its hash.
        let newest = try fixture.registry.version(functionName: "orders", version: String(lastCount))
        #expect(FileManager.default.fileExists(atPath: "\(try fixture.registry.taskRoot(for: newest))/bootstrap"))
    }
}
