import Foundation
import LambdaModel

/// A JSON document built in code with members in a fixed order, so that responses read like AWS's and tests can
/// compare them as text. Parsing of request bodies uses Foundation's `JSONSerialization`.
enum JSONValue: Sendable, Hashable {
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)
    case null
    case array([JSONValue])
    case object([(String, JSONValue)])

    static func == (lhs: JSONValue, rhs: JSONValue) -> Bool { lhs.serialized == rhs.serialized }
    func hash(into hasher: inout Hasher) { hasher.combine(serialized) }

    var serialized: String {
        var text = ""
        write(into: &text)
        return text
    }

    func write(into text: inout String) {
        switch self {
        case .string(let value): JSONText.appendQuoted(value, to: &text)
        case .int(let value): text += String(value)
        case .double(let value):
            if value.isFinite, value == value.rounded(), abs(value) < 1e15 {
                text += String(value)  // "1.0", as AWS writes weights
            } else {
                text += value.isFinite ? String(value) : "null"
            }
        case .bool(let value): text += value ? "true" : "false"
        case .null: text += "null"
        case .array(let items):
            text += "["
            for (index, item) in items.enumerated() {
                if index > 0 { text += "," }
                item.write(into: &text)
            }
            text += "]"
        case .object(let members):
            text += "{"
            for (index, member) in members.enumerated() {
                if index > 0 { text += "," }
                JSONText.appendQuoted(member.0, to: &text)
                text += ":"
                member.1.write(into: &text)
            }
            text += "}"
        }
    }

}
