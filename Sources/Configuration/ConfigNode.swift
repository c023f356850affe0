internal import Yams

/// A YAML node together with its key path, so that every type and range check can report where it failed.
///
/// The loader walks the `Yams.Node` tree by hand (no Codable) because Codable cannot report unknown keys,
/// lines or key paths the way a configuration file needs.
struct ConfigNode {
    let node: Node
    let path: String
    let file: String

    var line: Int? { node.mark?.line }

    func error(_ message: String) -> ConfigurationError {
        ConfigurationError(file: file, line: line, keyPath: path, message: message)
    }

    func child(_ node: Node, key: String) -> ConfigNode {
        ConfigNode(node: node, path: path.isEmpty ? key : "\(path).\(key)", file: file)
    }

    func element(_ node: Node, index: Int) -> ConfigNode {
        ConfigNode(node: node, path: "\(path)[\(index)]", file: file)
    }

    /// Whether the node is YAML null (`~`, `null`, or nothing after the colon).
    var isNull: Bool {
        guard case .scalar(let scalar) = node, scalar.style == .plain else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    var kindName: String {
        switch node {
        case .scalar: return isNull ? "null" : "a scalar"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    // MARK: Scalars

    /// The scalar's text; numbers and booleans are accepted and kept as written.
    func string() throws(ConfigurationError) -> String {
        guard case .scalar(let scalar) = node, !isNull else {
            throw error("expected a string, found \(kindName)")
        }
        return scalar.string
    }

    /// A string that must not be empty.
    func nonEmptyString() throws(ConfigurationError) -> String {
        let text = try string()
        if text.isEmpty { throw error("must not be empty") }
        return text
    }

    func int(in range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        guard case .scalar(let scalar) = node, !isNull else {
            throw error("expected an integer, found \(kindName)")
        }
        let text = scalar.string
        guard let value = Int(text.hasPrefix("+") ? String(text.dropFirst()) : text) else {
            throw error("expected an integer, found \"\(text)\"")
        }
        guard range.contains(value) else {
            throw error("must be between \(range.lowerBound) and \(range.upperBound), got \(value)")
        }
        return value
    }

    /// A number (integer or decimal) within `range`.
    func double(in range: ClosedRange<Double>) throws(ConfigurationError) -> Double {
        guard case .scalar(let scalar) = node, !isNull else {
            throw error("expected a number, found \(kindName)")
        }
        let text = scalar.string
        guard let value = Double(text), value.isFinite else {
            throw error("expected a number, found \"\(text)\"")
        }
        guard range.contains(value) else {
            throw error(
                "must be between \(formatted(range.lowerBound)) and \(formatted(range.upperBound)), got \(text)")
        }
        return value
    }

    private func formatted(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }

    func bool() throws(ConfigurationError) -> Bool {
        guard case .scalar(let scalar) = node, !isNull else {
            throw error("expected true or false, found \(kindName)")
        }
        switch scalar.string {
        case "true", "True", "TRUE": return true
        case "false", "False", "FALSE": return false
        default: throw error("expected true or false, found \"\(scalar.string)\"")
        }
    }

    /// A string that must be one of `choices` (compared exactly).
    func choice(_ choices: [String]) throws(ConfigurationError) -> String {
        let text = try string()
        guard choices.contains(text) else {
            var message = "\"\(text)\" is not one of " + choices.joined(separator: ", ")
            if let suggestion = Suggestions.closest(to: text, in: choices) {
                message += "; did you mean \(suggestion)?"
            }
            throw error(message)
        }
        return text
    }

    // MARK: Collections

    func sequence() throws(ConfigurationError) -> [ConfigNode] {
        guard case .sequence(let sequence) = node else {
            throw error("expected a list, found \(kindName)")
        }
        return sequence.enumerated().map { element($1, index: $0) }
    }

    /// A non-empty list of strings.
    func stringList() throws(ConfigurationError) -> [(String, ConfigNode)] {
        let items = try sequence()
        if items.isEmpty { throw error("must list at least one value") }
        var result: [(String, ConfigNode)] = []
        for item in items { result.append((try item.string(), item)) }
        return result
    }

    /// The node as a mapping whose keys must all be in `allowed`.
    func mapping(allowed: [String]) throws(ConfigurationError) -> ConfigMapping {
        guard case .mapping(let mapping) = node else {
            throw error("expected a mapping, found \(kindName)")
        }
        var entries: [(key: String, keyNode: ConfigNode, value: ConfigNode)] = []
        for (keyNode, valueNode) in mapping {
            guard case .scalar(let keyScalar) = keyNode else {
                throw ConfigNode(node: keyNode, path: path, file: file).error("keys must be strings")
            }
            let key = keyScalar.string
            let keyContext = ConfigNode(node: keyNode, path: path.isEmpty ? key : "\(path).\(key)", file: file)
            if !allowed.contains(key) {
                var message = "unknown key \"\(key)\""
                if let suggestion = Suggestions.closest(to: key, in: allowed) {
                    message += "; did you mean \"\(suggestion)\"?"
                } else {
                    message += "; allowed keys: " + allowed.joined(separator: ", ")
                }
                throw keyContext.error(message)
            }
            entries.append((key, keyContext, child(valueNode, key: key)))
        }
        return ConfigMapping(context: self, entries: entries)
    }

    /// The node as a mapping with arbitrary string keys, in document order.
    func freeMapping() throws(ConfigurationError) -> [(key: String, value: ConfigNode)] {
        guard case .mapping(let mapping) = node else {
            throw error("expected a mapping, found \(kindName)")
        }
        var entries: [(key: String, value: ConfigNode)] = []
        for (keyNode, valueNode) in mapping {
            guard case .scalar(let keyScalar) = keyNode else {
                throw ConfigNode(node: keyNode, path: path, file: file).error("keys must be strings")
            }
            entries.append((keyScalar.string, child(valueNode, key: keyScalar.string)))
        }
        return entries
    }

    /// Finds the node at a relative `field` path such as `targetGroups[1].weight`; falls back to the deepest
    /// node that exists, so an error still points at a nearby line.
    func locate(_ field: String?) -> ConfigNode {
        guard let field, !field.isEmpty else { return self }
        var current = self
        var found = true
        for component in field.split(separator: ".") {
            var name = Substring(component)
            var index: Int? = nil
            if let open = component.firstIndex(of: "["), component.hasSuffix("]") {
                name = component[..<open]
                index = Int(component[component.index(after: open)..<component.index(before: component.endIndex)])
            }
            var next: ConfigNode? = found ? current : nil
            if !name.isEmpty {
                next = nil
                if found, case .mapping(let mapping) = current.node {
                    for (keyNode, valueNode) in mapping where keyNode.scalar?.string == String(name) {
                        next = current.child(valueNode, key: String(name))
                    }
                }
            }
            if let candidate = next, let index {
                if case .sequence(let sequence) = candidate.node, index < sequence.count {
                    next = candidate.element(sequence[index], index: index)
                } else {
                    next = nil
                }
            }
            if let next {
                current = next
            } else {
                // Keep the textual path even where the node is missing (a defaulted key).
                found = false
                let separator = name.isEmpty || current.path.isEmpty ? "" : "."
                current = ConfigNode(node: current.node, path: current.path + separator + component, file: file)
            }
        }
        return current
    }
}

/// A mapping whose keys were checked against the schema.
struct ConfigMapping {
    let context: ConfigNode
    let entries: [(key: String, keyNode: ConfigNode, value: ConfigNode)]

    /// The value of `key`, or nil when absent or null.
    func optional(_ key: String) -> ConfigNode? {
        guard let entry = entries.first(where: { $0.key == key }), !entry.value.isNull else { return nil }
        return entry.value
    }

    func required(_ key: String) throws(ConfigurationError) -> ConfigNode {
        guard let value = optional(key) else {
            throw context.error("missing required key \"\(key)\"")
        }
        return value
    }
}

/// "Did you mean" suggestions for misspelt keys and values.
enum Suggestions {
    /// The candidate closest to `text` by edit distance (case-insensitive), when it is close enough to be a typo.
    static func closest(to text: String, in candidates: [String]) -> String? {
        let lowered = text.lowercased()
        var best: (String, Int)? = nil
        for candidate in candidates {
            let distance = editDistance(lowered, candidate.lowercased())
            if best == nil || distance < best!.1 { best = (candidate, distance) }
        }
        guard let (candidate, distance) = best else { return nil }
        let limit = max(1, min(3, candidate.count / 3))
        return distance <= limit ? candidate : nil
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.unicodeScalars)
        let b = Array(b.unicodeScalars)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
