/// Environment variable values are secrets (they are stored encrypted): printing a variable, or any value that
/// contains one (a ``FunctionConfiguration``), shows its name only. That includes reflection (`dump`, debuggers,
/// anything that walks a `Mirror`), which would otherwise list the stored `value`.
extension EnvironmentVariable: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String { "\(name)=<redacted>" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["name": name], displayStyle: .struct) }
}
