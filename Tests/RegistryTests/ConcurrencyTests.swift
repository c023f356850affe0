import Foundation
import LambdaModel
import Registry
import Testing

/// Two registries on one data directory (as a server and the CLI would be) writing at the same time.
struct ConcurrencyTests {
    @Test func concurrentWritersFromTwoRegistriesNeverShareANumber() throws {
        let fixture = try RegistryFixture()
        try fixture.putOrders(body: "start")
        let other = try Registry(dataDirectory: fixture.dataDirectory, account: fixture.account)
        let registries = [fixture.registry, other]
        let configurations = try (0..<2).map { writer in
            try (0..<10).map { round in
                fixture.configuration(
                    code: try fixture.codeDirectory("w\(writer)-\(round)", ["bootstrap": "\(writer)-\(round)"]))
            }
        }
        let results = Locked<[String]>([])
        let failures = Locked<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 2) { writer in
            for round in 0..<10 {
                do {
                    try registries[writer].putLatest(configurations[writer][round])
                    let version = try registries[writer].publishVersion(functionName: "orders")
                    results.withLock { $0.append(version.version) }
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
        }
        #expect(failures.withLock { $0 }.isEmpty)
        let numbers = try fixture.registry.versions(functionName: "orders").compactMap(\.number)
        #expect(numbers == Array(1...numbers.count))
        #expect(numbers.count >= 10)
        // No code was published twice (an unchanged $LATEST returns the existing version).
        let hashes = try fixture.registry.versions(functionName: "orders").dropFirst().map(\.codeSha256)
        #expect(Set(hashes).count == hashes.count)
    }
}
