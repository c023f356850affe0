/// A parsed JSON document, as produced by `JSONParser`. Numbers keep their source text so that "is this an
/// integer" (what `statusCode` must be) can be answered exactly; objects keep member order and apply
/// "last duplicate wins".
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(JSONNumber)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    /// A short name of the value's JSON type, for error messages ("string", "number", ...).
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}

/// A JSON number as written in the source (RFC 8259 grammar, already validated).
public struct JSONNumber: Sendable, Hashable, CustomStringConvertible {
    /// The number's source text, e.g. `-12.5e3`.
    public var text: String

    public init(text: String) {
        self.text = text
    }

    /// Whether the text has neither a fraction nor an exponent (`200`, `-3`; not `200.0` or `2e2`).
    public var isInteger: Bool {
        !text.utf8.contains { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }
    }

    /// The value when the text is an integer that fits in `Int`.
    public var integerValue: Int? {
        isInteger ? Int(text) : nil
    }

    public var description: String { text }
}

/// A JSON object: members in first-appearance order; a repeated key keeps its first position and takes the
/// last value (duplicate keys: last wins). Keys compare byte-wise, not by Unicode canonical equivalence.
public struct JSONObject: Sendable, Equatable {
    public private(set) var members: [(key: String, value: JSONValue)]
    /// Key → position, built once the object grows past `indexThreshold` members so that duplicate detection
    /// stays linear on hostile input.
    private var index: [ByteKey: Int]?
    private static let indexThreshold = 16

    public init() {
        members = []
    }

    public init(_ members: [(key: String, value: JSONValue)]) {
        self.members = []
        for member in members { self[member.key] = member.value }
    }

    public var count: Int { members.count }
    public var isEmpty: Bool { members.isEmpty }

    /// The member's value; assigning replaces an existing member in place or appends a new one.
    public subscript(key: String) -> JSONValue? {
        get {
            position(of: key).map { members[$0].value }
        }
        set {
            if let position = position(of: key) {
                if let newValue {
                    members[position].value = newValue
                } else {
                    members.remove(at: position)
                    rebuildIndex()
                }
            } else if let newValue {
                members.append((key, newValue))
                if index != nil {
                    index![ByteKey(key)] = members.count - 1
                } else if members.count > Self.indexThreshold {
                    rebuildIndex()
                }
            }
        }
    }

    private func position(of key: String) -> Int? {
        if let index { return index[ByteKey(key)] }
        return members.firstIndex { ASCII.bytesEqual($0.key, key) }
    }

    private mutating func rebuildIndex() {
        guard members.count > Self.indexThreshold else {
            index = nil
            return
        }
        var newIndex = [ByteKey: Int](minimumCapacity: members.count)
        for (position, member) in members.enumerated() { newIndex[ByteKey(member.key)] = position }
        index = newIndex
    }

    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        guard lhs.members.count == rhs.members.count else { return false }
        for (left, right) in zip(lhs.members, rhs.members) {
            guard ASCII.bytesEqual(left.key, right.key), left.value == right.value else { return false }
        }
        return true
    }
}

/// A `String` hashed and compared by its UTF-8 bytes.
struct ByteKey: Hashable {
    let string: String

    init(_ string: String) {
        self.string = string
    }

    static func == (lhs: ByteKey, rhs: ByteKey) -> Bool {
        ASCII.bytesEqual(lhs.string, rhs.string)
    }

    func hash(into hasher: inout Hasher) {
        var copy = string
        copy.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}
