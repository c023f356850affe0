import ALBEvents

/// A stored trace read back: its segments and subsegments as one tree, whatever order and documents they came
/// in (the platform's segments embed their subsegments; the SDK's arrive alone, naming their `parent_id`).
public struct TraceTree: Sendable, Hashable {
    public struct Node: Sendable, Hashable {
        public var id: String
        public var name: String
        public var origin: String?
        public var start: Double
        /// nil while in progress.
        public var end: Double?
        public var error = false
        public var fault = false
        public var throttle = false
        /// The first exception's message of `cause`, when there is one.
        public var causeMessage: String?
        public var children: [Node] = []
    }

    public var traceID: String
    public var roots: [Node]

    /// Earliest start and latest end over every node.
    public var start: Double { Self.all(roots).map(\.start).min() ?? 0 }
    public var end: Double { Self.all(roots).compactMap(\.end).max() ?? start }
    public var durationMs: Double { (end - start) * 1000 }
    /// The function of the `AWS::Lambda` segment (or the first root's name).
    public var function: String? {
        Self.all(roots).first { $0.origin == "AWS::Lambda" }?.name ?? roots.first?.name
    }
    public var coldStart: Bool { Self.all(roots).contains { $0.name == "Initialization" } }
    public var failed: Bool { Self.all(roots).contains { $0.error || $0.fault || $0.throttle } }

    static func all(_ nodes: [Node]) -> [Node] { nodes.flatMap { [$0] + all($0.children) } }

    /// Builds the tree from document lines; lines that are not segment documents are skipped.
    public init(traceID: String, lines: [String]) {
        self.traceID = traceID
        var nodes: [Node] = []
        var parents: [String?] = []
        for line in lines {
            guard case .object(let object) = try? JSONParser.parse(line), let node = Self.node(object) else { continue }
            nodes.append(node)
            if case .string(let parent) = object["parent_id"] { parents.append(parent) } else { parents.append(nil) }
        }
        // Attach each document under the node (anywhere in the tree) whose id is its parent_id; documents whose
        // parent is absent are roots. Children first, so that subtrees are complete when they are attached.
        var attached = Array(repeating: false, count: nodes.count)
        var changed = true
        while changed {
            changed = false
            for index in nodes.indices where !attached[index] {
                guard let parent = parents[index] else { continue }
                // Only attach a node once nothing still waits to be attached under it.
                let waiting = nodes.indices.contains { other in
                    !attached[other] && other != index && Self.contains(nodes[index], id: parents[other] ?? "")
                }
                if waiting { continue }
                for target in nodes.indices where target != index && !attached[target] {
                    if Self.insert(nodes[index], under: parent, in: &nodes[target]) {
                        attached[index] = true
                        changed = true
                        break
                    }
                }
            }
        }
        roots = nodes.indices.filter { !attached[$0] }.map { nodes[$0] }.sorted { $0.start < $1.start }
        roots = roots.map(Self.sorted)
    }

    static func contains(_ node: Node, id: String) -> Bool {
        node.id == id || node.children.contains { contains($0, id: id) }
    }

    static func insert(_ child: Node, under id: String, in node: inout Node) -> Bool {
        if node.id == id {
            node.children.append(child)
            return true
        }
        for index in node.children.indices where insert(child, under: id, in: &node.children[index]) { return true }
        return false
    }

    static func sorted(_ node: Node) -> Node {
        var node = node
        node.children = node.children.map(sorted).sorted { $0.start < $1.start }
        return node
    }

    static func node(_ object: JSONObject) -> Node? {
        guard case .string(let id) = object["id"], case .string(let name) = object["name"],
            case .number(let start) = object["start_time"], let startTime = Double(start.text)
        else { return nil }
        var node = Node(id: id, name: name, start: startTime)
        if case .number(let end) = object["end_time"] { node.end = Double(end.text) }
        if case .string(let origin) = object["origin"] { node.origin = origin }
        if case .bool(true) = object["error"] { node.error = true }
        if case .bool(true) = object["fault"] { node.fault = true }
        if case .bool(true) = object["throttle"] { node.throttle = true }
        if case .object(let cause) = object["cause"], case .array(let exceptions) = cause["exceptions"],
            case .object(let first) = exceptions.first
        {
            var message = ""
            if case .string(let type) = first["type"] { message = type }
            if case .string(let text) = first["message"] { message += message.isEmpty ? text : ": \(text)" }
            node.causeMessage = message
        }
        if case .array(let subsegments) = object["subsegments"] {
            for case .object(let sub) in subsegments { if let child = Self.node(sub) { node.children.append(child) } }
        }
        return node
    }
}

/// Draws a trace as a terminal waterfall: one line per segment and subsegment, indented by depth, with its
/// offset from the trace's start, its duration and a bar on a common time axis; cold starts and errors marked.
public enum TraceWaterfall {
    public static func render(_ tree: TraceTree, width: Int = 40) -> String {
        let start = tree.start
        let total = max(tree.end - start, 1e-6)
        var lines: [String] = []
        var heading = "Trace \(tree.traceID)"
        if let function = tree.function { heading += "  function \(function)" }
        heading += "  \(milliseconds(tree.durationMs))"
        if tree.coldStart { heading += "  [cold start]" }
        if tree.failed { heading += "  [error]" }
        lines.append(heading)
        lines.append(pad("offset", 10) + pad("duration", 11) + "  " + rightPad("name", 44) + " timeline")
        func walk(_ node: TraceTree.Node, depth: Int) {
            let offset = (node.start - start) * 1000
            let end = node.end ?? tree.end
            let duration = (end - node.start) * 1000
            var label = String(repeating: "  ", count: depth) + node.name
            if let origin = node.origin { label += " (\(origin))" }
            var marks: [String] = []
            if node.name == "Initialization" { marks.append("cold start") }
            if node.fault { marks.append("fault") }
            if node.error { marks.append("error") }
            if node.throttle { marks.append("throttle") }
            if node.end == nil { marks.append("in progress") }
            let first = Int(((node.start - start) / total * Double(width)).rounded())
            let last = Int(((end - start) / total * Double(width)).rounded())
            let length = max(1, last - first)
            let lead = min(max(0, first), width - 1)
            let bar = String(repeating: " ", count: lead) + String(repeating: "#", count: min(length, width - lead))
            var line =
                pad(milliseconds(offset), 10) + pad(milliseconds(duration), 11) + "  "
                + rightPad(label, 44) + " |"
                + rightPad(bar, width) + "|"
            if !marks.isEmpty { line += " " + marks.map { "[\($0)]" }.joined(separator: " ") }
            if let cause = node.causeMessage { line += " \(cause)" }
            lines.append(line)
            for child in node.children { walk(child, depth: depth + 1) }
        }
        for root in tree.roots { walk(root, depth: 0) }
        return lines.joined(separator: "\n") + "\n"
    }

    public static func milliseconds(_ value: Double) -> String {
        let hundredths = Int((value * 100).rounded())
        let fraction = String(abs(hundredths) % 100)
        return "\(hundredths / 100).\(fraction.count == 1 ? "0" + fraction : fraction) ms"
    }

    static func rightPad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }

    static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
    }
}
