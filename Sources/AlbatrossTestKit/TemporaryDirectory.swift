import Foundation

/// A directory under the system temporary directory, removed by ``remove()`` (tests call it in `defer`).
public final class TemporaryDirectory: Sendable {
    public let path: String

    public init(prefix: String = "albatross-test") throws {
        let base =
            NSTemporaryDirectory().hasSuffix("/") ? String(NSTemporaryDirectory().dropLast()) : NSTemporaryDirectory()
        var template = Array("\(base)/\(prefix)-XXXXXX".utf8CString)
        guard let result = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw CocoaError(.fileWriteUnknown)
        }
        path = String(cString: result)
    }

    public func url(_ relative: String) -> String { "\(path)/\(relative)" }

    /// Writes `contents` at `relative` (creating directories), optionally executable.
    @discardableResult
    public func write(_ relative: String, _ contents: String, executable: Bool = false) throws -> String {
        let file = url(relative)
        try FileManager.default.createDirectory(
            atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try contents.write(toFile: file, atomically: true, encoding: .utf8)
        if executable { chmod(file, 0o755) }
        return file
    }

    public func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Runs `body` with a new directory and removes the directory afterwards.
    public static func with<T>(prefix: String = "albatross-test", _ body: (TemporaryDirectory) throws -> T) throws -> T
    {
        let directory = try TemporaryDirectory(prefix: prefix)
        defer { directory.remove() }
        return try body(directory)
    }

    public func makeDirectory(_ relative: String) throws {
        try FileManager.default.createDirectory(atPath: url(relative), withIntermediateDirectories: true)
    }
}

/// Paths inside this package's checkout.
public enum PackagePaths {
    /// The package root (the directory holding Package.swift).
    public static var root: String {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }

    /// The project venv's interpreter, created by scripts/setup.sh.
    public static var venvPython: String { "\(root)/.venv/bin/python" }

    /// The built `albatross` executable next to the test bundle, when it exists.
    public static var albatrossExecutable: String? {
        let candidates = [
            "\(root)/.build/debug/albatross",
            "\(root)/.build/release/albatross",
            "\(root)/.build/x86_64-unknown-linux-gnu/debug/albatross",
            "\(root)/.build/aarch64-unknown-linux-gnu/debug/albatross",
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
