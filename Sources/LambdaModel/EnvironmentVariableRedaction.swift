/// Environment variable values are secrets (they are stored encrypted): printing a variable, or any value that
/// contains one (a ``FunctionConfiguration``), shows its name only.
extension EnvironmentVariable: CustomStringConvertible, CustomDebugStringConvertible {
    public var description: String { "\(name)=<redacted>" }
    public var debugDescription: String { description }
}
