public import Logging

/// The server's own diagnostics on the console: `<label>: <message>`, as `albatross serve` has always printed
/// them, so that scripts and tests that wait for a line keep working whatever the log level.
///
/// Levels up to `notice` go to standard output, `warning` and above to standard error. Metadata, when a message
/// carries any (swift-service-lifecycle's debug lines do), follows the message as `key=value` pairs.
public struct ConsoleLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String

    public init(label: String, logLevel: Logger.Level = .info) {
        self.label = label
        self.logLevel = logLevel
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var text = "\(label): \(event.message)"
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let own = event.metadata { merged.merge(own) { _, new in new } }
        if !merged.isEmpty {
            text += " " + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        }
        if event.level >= .warning {
            ConsoleOutput.error(text)
        } else {
            ConsoleOutput.line(text)
        }
    }
}

extension Logger {
    /// A logger that discards everything: the test kit's default, so that tests print only what they assert on.
    public static var silent: Logger { Logger(label: "albatross", factory: { _ in SwiftLogNoOpLogHandler() }) }
}
