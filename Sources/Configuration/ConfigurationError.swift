/// Why a configuration file was refused: which file, which line (when known), which key and what is wrong.
///
/// A configuration error is always the user's to fix, so the description reads like a compiler diagnostic:
/// `config/example.yaml:14: listeners[0].rules[1].priority: priority must be between 1 and 50000, got 0`.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable, Hashable {
    /// The configuration file as the caller named it.
    public let file: String
    /// 1-based line of the offending node, when the YAML parser reported one.
    public let line: Int?
    /// Where in the document the problem is (`functions[0].memorySize`); empty for the document as a whole.
    public let keyPath: String
    /// What is wrong, naming the value at fault.
    public let message: String

    public init(file: String, line: Int?, keyPath: String, message: String) {
        self.file = file
        self.line = line
        self.keyPath = keyPath
        self.message = message
    }

    public var description: String {
        var text = file
        if let line { text += ":\(line)" }
        text += ": "
        if !keyPath.isEmpty { text += keyPath + ": " }
        return text + message
    }
}
