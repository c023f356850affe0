import Foundation

/// A scratch directory for one test, removed when the test's closure returns.
struct TemporaryDirectory {
    let path: String

    static func with<T>(_ body: (TemporaryDirectory) throws -> T) throws -> T {
        let path = NSTemporaryDirectory() + "albatross-config-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try body(TemporaryDirectory(path: path))
    }

    /// Writes `contents` at the relative `name`, creating parent directories.
    @discardableResult
    func write(_ name: String, _ contents: String, executable: Bool = false) throws -> String {
        let file = path + "/" + name
        try FileManager.default.createDirectory(
            atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true
        )
        try contents.write(toFile: file, atomically: true, encoding: .utf8)
        if executable {
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: file)
        }
        return file
    }

    func makeDirectory(_ name: String) throws {
        try FileManager.default.createDirectory(atPath: path + "/" + name, withIntermediateDirectories: true)
    }

    /// The function code directories the example and the tests refer to.
    func makeFunctionCode(under prefix: String = "") throws {
        try write(prefix + "functions/echo/bootstrap", "#!/bin/sh\nexit 0\n", executable: true)
        try write(prefix + "functions/hello-python/app.py", "def handler(event, context):\n    return {}\n")
        try write(prefix + "functions/plain/bootstrap", "#!/bin/sh\n", executable: false)
        try makeDirectory(prefix + "functions/empty")
        try write(prefix + "functions/bundle.zip", "PK")
        try write(prefix + "functions/notes.txt", "not code")
        try write(prefix + "certs/local.pem", "cert")
        try write(prefix + "certs/local-key.pem", "key")
        try write(prefix + "certs/other.pem", "cert")
        try write(prefix + "certs/other-key.pem", "key")
    }
}
