import CodeStore
import Foundation
import LambdaModel
import Registry
import Testing

/// Stored packages: CodeSha256 against an independent SHA-256, deterministic packing, tampering detected.
struct CodePackageTests {
    @Test func codeSha256IsBase64OfTheStoredZipsSHA256() throws {
        let fixture = try RegistryFixture()
        let record = try fixture.putOrders()
        guard case .zip(let blob) = record.configuration.code else {
            Issue.record("stored code is not a zip")
            return
        }
        #expect(blob.hasPrefix("\(fixture.dataDirectory)/code-store/"))
        let hex = try shell("sha256sum '\(blob)' | cut -d' ' -f1").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(blob == "\(fixture.dataDirectory)/code-store/\(hex).zip")
        let base64 = try shell("openssl dgst -sha256 -binary '\(blob)' | base64")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(record.codeSha256 == base64)
        #expect(record.codeSha256.count == 44)
        let size = try FileManager.default.attributesOfItem(atPath: blob)[.size] as? Int
        #expect(record.codeSize == size)
    }

    @Test func aZipIsStoredAsIs() throws {
        let fixture = try RegistryFixture()
        let code = try fixture.codeDirectory("zipped", ["bootstrap": "#!/bin/sh\n", "a/b.txt": "b"])
        let zip = fixture.directory.url("upload.zip")
        _ = try shell("cd '\(code)' && python3 -m zipfile -c '\(zip)' bootstrap a")
        var configuration = fixture.configuration(code: code)
        configuration.code = .zip(zip)
        let record = try fixture.registry.putLatest(configuration)
        let expected = try shell("openssl dgst -sha256 -binary '\(zip)' | base64")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(record.codeSha256 == expected)
        let root = try fixture.registry.taskRoot(for: record)
        #expect(try String(contentsOfFile: "\(root)/a/b.txt", encoding: .utf8) == "b")
    }

    @Test func packingIsDeterministicAndIgnoresTimestamps() throws {
        let fixture = try RegistryFixture()
        let code = try fixture.codeDirectory(
            "det",
            [
                "bootstrap": "#!/bin/sh\necho hi\n", "z.txt": "last",
                "a/deep/file.py": String(repeating: "x", count: 5000),
                "a-b.txt": "dash",
            ])
        try FileManager.default.createDirectory(atPath: "\(code)/empty", withIntermediateDirectories: true)
        symlink("a/deep/file.py", "\(code)/link")
        let first = try DeterministicZip.pack(directory: code)
        let second = try DeterministicZip.pack(directory: code)
        #expect(first == second)

        // New modification times (files and directories) give the same bytes.
        for path in ["bootstrap", "z.txt", "a/deep/file.py", "a", "empty"] {
            var times = [
                timespec(tv_sec: 1_000_000_000, tv_nsec: 0), timespec(tv_sec: 1_000_000_000, tv_nsec: 0),
            ]
            #expect(utimensat(AT_FDCWD, "\(code)/\(path)", &times, 0) == 0)
        }
        #expect(try DeterministicZip.pack(directory: code) == first)

        // A registry storing it twice gets one CodeSha256.
        let one = try fixture.registry.putLatest(fixture.configuration(code: code))
        let two = try fixture.registry.putLatest(fixture.configuration("other", code: code))
        #expect(one.codeSha256 == two.codeSha256)

        // The content matters: a one-byte change, or a mode change, changes the bytes.
        chmod("\(code)/z.txt", 0o600)
        let modeChanged = try DeterministicZip.pack(directory: code)
        #expect(modeChanged != first)
        try fixture.directory.write("code/det/z.txt", "lasT")
        #expect(try DeterministicZip.pack(directory: code) != modeChanged)
    }

    @Test func packedZipsAreOrdinaryZips() throws {
        let fixture = try RegistryFixture()
        let code = try fixture.codeDirectory(
            "std", ["bootstrap": "#!/bin/sh\n", "lib/big.txt": String(repeating: "albatross ", count: 2000)])
        symlink("lib/big.txt", "\(code)/link")
        let zip = fixture.directory.url("std.zip")
        try DeterministicZip.pack(directory: code).write(to: URL(fileURLWithPath: zip))
        // Python's zipfile lists sorted entries with Unix modes, fixed timestamps, deflated content.
        let listing = try shell(
            """
            python3 -c "
            import zipfile, sys
            z = zipfile.ZipFile('\(zip)')
            assert z.testzip() is None
            for i in z.infolist():
                print(i.filename, oct(i.external_attr >> 16), i.date_time, i.compress_type)
            "
            """)
        #expect(
            listing.split(separator: "\n") == [
                "bootstrap 0o100755 (1980, 1, 1, 0, 0, 0) 0",
                "lib/ 0o40755 (1980, 1, 1, 0, 0, 0) 0",
                "lib/big.txt 0o100644 (1980, 1, 1, 0, 0, 0) 8",
                "link 0o120777 (1980, 1, 1, 0, 0, 0) 0",
            ])
        try ZipArchive.unpack(archive: zip, into: fixture.directory.url("out"))
        #expect(
            try FileManager.default.destinationOfSymbolicLink(atPath: fixture.directory.url("out/link"))
                == "lib/big.txt")
        #expect(FileManager.default.isExecutableFile(atPath: fixture.directory.url("out/bootstrap")))
    }

    @Test func packingRefusesLinksOutOfTheDirectory() throws {
        let fixture = try RegistryFixture()
        let code = try fixture.codeDirectory("escape", ["bootstrap": "x"])
        symlink("/etc/passwd", "\(code)/passwd")
        #expect(
            throws: ZipArchiveError(
                archive: code, entry: "passwd", "is a symbolic link to the absolute path /etc/passwd")
        ) {
            try DeterministicZip.pack(directory: code)
        }
        expectRegistryError(
            "InvalidParameterValueException",
            "cannot pack the code directory of function orders: \(code): entry passwd is a symbolic link to the "
                + "absolute path /etc/passwd"
        ) { try fixture.registry.putLatest(fixture.configuration(code: code)) }
    }

    @Test func aTamperedPackageIsRefused() throws {
        let fixture = try RegistryFixture()
        let record = try fixture.putOrders(body: "original")
        guard case .zip(let blob) = record.configuration.code else { return }
        // Flip one byte of the stored package before it was ever unpacked.
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: blob)))
        bytes[bytes.count / 2] ^= 0xff
        chmod(blob, 0o644)
        try Data(bytes).write(to: URL(fileURLWithPath: blob))
        if let error = registryError({ _ = try fixture.registry.taskRoot(for: record) }) {
            #expect(error.errorType == "ServiceException")
            #expect(error.httpStatus == 500)
            #expect(error.message.contains(blob))
            #expect(error.message.contains("was altered"))
            #expect(error.message.contains(record.codeSha256))
        }
        let hex = (blob as NSString).lastPathComponent.replacingOccurrences(of: ".zip", with: "")
        #expect(!FileManager.default.fileExists(atPath: "\(fixture.dataDirectory)/tasks/\(hex)"))

        // Putting the same code again repairs the store.
        try fixture.putOrders(body: "original")
        let root = try fixture.registry.taskRoot(for: record)
        #expect(root == "\(fixture.dataDirectory)/tasks/\(hex)")
        #expect(try String(contentsOfFile: "\(root)/bootstrap", encoding: .utf8).contains("original"))
    }

    @Test func unpacksOncePerHash() throws {
        let fixture = try RegistryFixture()
        let record = try fixture.putOrders()
        let root = try fixture.registry.taskRoot(for: record)
        try "marker".write(toFile: "\(root)/marker", atomically: false, encoding: .utf8)
        #expect(try fixture.registry.taskRoot(for: record) == root)
        #expect(FileManager.default.fileExists(atPath: "\(root)/marker"))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: "\(fixture.dataDirectory)/tasks")
        #expect(leftovers.count == 1)
    }
}
