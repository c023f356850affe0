import Foundation
import LambdaModel
import Registry
import Testing

/// Environment variables at rest: encrypted in the database, key file mode 0600, never printed.
struct EncryptionTests {
    static let secret = "pa55-ALBATROSS-7f3c9e-distinctive"

    /// Every byte the database keeps on disk: the main file, its WAL and its shared-memory index.
    static func databaseBytes(_ fixture: RegistryFixture) -> [Data] {
        ["", "-wal", "-shm"].compactMap {
            FileManager.default.contents(atPath: "\(fixture.dataDirectory)/registry.sqlite\($0)")
        }
    }

    @Test func plaintextNeverReachesTheDatabase() throws {
        let fixture = try RegistryFixture()
        let registry = fixture.registry
        let code = try fixture.codeDirectory("env", ["bootstrap": "x"])
        try registry.putLatest(
            fixture.configuration(code: code, environment: ["API_KEY": Self.secret]), description: "marker-description")
        try registry.publishVersion(functionName: "orders")
        try registry.putLatest(fixture.configuration(code: code, environment: ["API_KEY": Self.secret + "-2"]))
        try registry.publishVersion(functionName: "orders")

        let files = Self.databaseBytes(fixture)
        #expect(files.count >= 2, "expected the database and its WAL")
        #expect(files.contains { !$0.isEmpty })
        let plain = Data(Self.secret.utf8)
        // The search works: a value stored in plaintext (the description) is found.
        #expect(files.contains { $0.range(of: Data("marker-description".utf8)) != nil })
        for file in files { #expect(file.range(of: plain) == nil) }
        // grep agrees (an independent reader of the same files).
        let grep = try shell(
            "grep -c -a -F '\(Self.secret)' '\(fixture.dataDirectory)'/registry.sqlite* || true")
        #expect(grep.split(separator: "\n").allSatisfy { $0.hasSuffix(":0") })

        // Decrypted on read, per version.
        #expect(
            try registry.version(functionName: "orders", version: "1").configuration.environment.first?.value
                == Self.secret)
        #expect(
            try registry.version(functionName: "orders", version: "2").configuration.environment.first?.value
                == Self.secret + "-2")
    }

    @Test func valuesAreNeverPrinted() throws {
        let fixture = try RegistryFixture()
        let record = try fixture.putOrders(environment: ["API_KEY": Self.secret])
        for text in [
            "\(record)", String(describing: record), String(reflecting: record), "\(record.configuration)",
            String(reflecting: record.configuration), "\(record.configuration.environment)",
        ] {
            #expect(!text.contains(Self.secret), "\(text)")
            #expect(text.contains("API_KEY"), "\(text)")
        }
    }

    @Test func keyFileIsCreatedOwnerOnly() throws {
        let fixture = try RegistryFixture()
        let key = "\(fixture.dataDirectory)/registry.key"
        var info = stat()
        #expect(stat(key, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)
        #expect(info.st_size == 32)
    }

    @Test(arguments: [0o644, 0o640, 0o604, 0o660])
    func broaderKeyFilePermissionsAreRefused(mode: Int) throws {
        let fixture = try RegistryFixture()
        let key = "\(fixture.dataDirectory)/registry.key"
        #expect(chmod(key, mode_t(mode)) == 0)
        if let error = registryError({ _ = try fixture.reopen() }) {
            #expect(error.message.contains(key))
            #expect(error.message.contains("chmod 600"))
        }
        #expect(chmod(key, 0o600) == 0)
        _ = try fixture.reopen()
    }

    @Test func aDifferentKeyCannotReadTheVariables() throws {
        let fixture = try RegistryFixture()
        try fixture.putOrders(environment: ["API_KEY": Self.secret])
        let key = "\(fixture.dataDirectory)/registry.key"
        try Data(repeating: 7, count: 32).write(to: URL(fileURLWithPath: key))
        chmod(key, 0o600)
        let reopened = try fixture.reopen()
        if let error = registryError({ _ = try reopened.version(functionName: "orders", version: "$LATEST") }) {
            #expect(error.message.contains("authentication check"))
            #expect(!error.message.contains(Self.secret))
        }
    }

    @Test func databaseIsInWALMode() throws {
        let fixture = try RegistryFixture()
        try fixture.putOrders()
        // SQLite's file header: bytes 18 and 19 (write and read format versions) are 2 in WAL mode, 1 otherwise.
        let header = [UInt8](try Data(contentsOf: URL(fileURLWithPath: "\(fixture.dataDirectory)/registry.sqlite")))
        #expect(header.count >= 100)
        #expect(String(decoding: header.prefix(15), as: UTF8.self) == "SQLite format 3")
        #expect(header[18] == 2 && header[19] == 2)
        #expect(FileManager.default.fileExists(atPath: "\(fixture.dataDirectory)/registry.sqlite-wal"))
    }
}
