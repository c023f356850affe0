import Foundation

/// Serialised writes to standard output and error, safe from any thread.
///
/// The server's diagnostics (``ConsoleLogHandler``), the function logs mirrored by `serve` and the CLI's own output
/// all go through it, so that lines from different threads never interleave.
public enum ConsoleOutput {
    private static let lock = NSLock()

    /// Writes `text` and a newline to standard output.
    public static func line(_ text: String) {
        write(text + "\n", to: FileHandle.standardOutput)
    }

    /// Writes `text` and a newline to standard error.
    public static func error(_ text: String) {
        write(text + "\n", to: FileHandle.standardError)
    }

    private static func write(_ text: String, to handle: FileHandle) {
        lock.lock()
        defer { lock.unlock() }
        handle.write(Data(text.utf8))
    }
}
