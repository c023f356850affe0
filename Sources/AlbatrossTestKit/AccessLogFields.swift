/// Splits an access-log line as its readers must (observability.md §3.2): a double-quoted string (with `\"` and
/// `\\` escapes, the quotes kept) or a run of non-spaces.
public func accessLogFields(_ line: String) -> [String] {
    var fields: [String] = []
    var current = ""
    var inQuotes = false
    var escaped = false
    for character in line {
        if inQuotes {
            current.append(character)
            if escaped {
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if character == "\"" {
                inQuotes = false
            }
        } else if character == " " {
            fields.append(current)
            current = ""
        } else {
            if character == "\"" && current.isEmpty { inQuotes = true }
            current.append(character)
        }
    }
    fields.append(current)
    return fields
}
