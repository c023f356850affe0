/// A Lambda runtime identifier and how the platform starts it.
public struct Runtime: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// OS-only runtimes: the platform executes `bootstrap` from the task root.
        case provided
        /// Python managed runtimes: `python -m awslambdaric <handler>`.
        case python
    }

    /// The identifier as AWS spells it, e.g. `provided.al2023` or `python3.12`.
    public let identifier: String
    public let kind: Kind
    /// For Python: the interpreter to run (a venv's `bin/python` or `python3`). Ignored otherwise.
    public var pythonInterpreter: String?

    /// Identifiers this platform can run.
    public static let supportedIdentifiers: [String] = [
        "provided", "provided.al2", "provided.al2023",
        "python3.9", "python3.10", "python3.11", "python3.12", "python3.13", "python3.14",
    ]

    /// Parses an identifier; returns nil for one this platform cannot run.
    public init?(identifier: String, pythonInterpreter: String? = nil) {
        switch identifier {
        case "provided", "provided.al2", "provided.al2023":
            self.kind = .provided
        case _ where identifier.hasPrefix("python3.") && Self.supportedIdentifiers.contains(identifier):
            self.kind = .python
        default:
            return nil
        }
        self.identifier = identifier
        self.pythonInterpreter = pythonInterpreter
    }

    /// `AWS_EXECUTION_ENV`, which AWS does not set for OS-only runtimes.
    public var executionEnvironment: String? {
        switch kind {
        case .provided: return nil
        case .python: return "AWS_Lambda_\(identifier)"
        }
    }

    public var description: String { identifier }
}
