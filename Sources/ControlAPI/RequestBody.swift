import Foundation

/// A JSON request body of a write operation, checked against the members the operation's input has in the
/// botocore model: malformed JSON, a body that is not an object, a member of the wrong type or one the model does
/// not have are refused with 400 `InvalidRequestContentException` `Could not parse request body into json: …`, as
/// AWS's deserializer refuses them (its detail text is Jackson's; ours names the member), before anything is stored.
struct RequestBody {
    private let members: [String: Any]
    /// `Code.` for nested objects, so errors name the member's path.
    private let path: String

    static func contentError(_ detail: String) -> APIError {
        APIError(
            type: "InvalidRequestContentException", status: 400,
            message: "Could not parse request body into json: \(detail)")
    }

    /// Parses `bytes` (an empty body is `{}`, what botocore sends for an input without members given).
    init(_ bytes: [UInt8], allowed: Set<String>) throws(APIError) {
        if bytes.isEmpty {
            self.init(members: [:], path: "")
            return
        }
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
        } catch {
            throw Self.contentError("the body is not valid JSON (\(error.localizedDescription))")
        }
        guard let object = parsed as? [String: Any] else {
            throw Self.contentError("the body must be a JSON object")
        }
        try self.init(object: object, path: "", allowed: allowed)
    }

    private init(members: [String: Any], path: String) {
        self.members = members
        self.path = path
    }

    private init(object: [String: Any], path: String, allowed: Set<String>) throws(APIError) {
        for key in object.keys.sorted() where !allowed.contains(key) {
            throw Self.contentError("Unrecognized field \"\(path)\(key)\", not marked as ignorable")
        }
        // botocore never sends null; a raw caller's null means the member is absent.
        self.init(members: object.filter { !($0.value is NSNull) }, path: path)
    }

    var keys: Set<String> { Set(members.keys) }
    func has(_ key: String) -> Bool { members[key] != nil }

    private func typeError(_ key: String, _ type: String) -> APIError {
        Self.contentError("the member \"\(path)\(key)\" must be \(type)")
    }

    func string(_ key: String) throws(APIError) -> String? {
        guard let value = members[key] else { return nil }
        guard let text = value as? String else { throw typeError(key, "a string") }
        return text
    }

    func int(_ key: String) throws(APIError) -> Int? {
        guard let value = members[key] else { return nil }
        guard !(value is String), let number = value as? NSNumber else { throw typeError(key, "an integer") }
        let double = number.doubleValue
        guard double.rounded() == double, abs(double) < 1e15 else { throw typeError(key, "an integer") }
        return Int(double)
    }

    func bool(_ key: String) throws(APIError) -> Bool? {
        guard let value = members[key] else { return nil }
        guard !(value is String), let flag = value as? Bool else { throw typeError(key, "a boolean") }
        return flag
    }

    func object(_ key: String, allowed: Set<String>) throws(APIError) -> RequestBody? {
        guard let value = members[key] else { return nil }
        guard let object = value as? [String: Any] else { throw typeError(key, "an object") }
        return try RequestBody(object: object, path: "\(path)\(key).", allowed: allowed)
    }

    func stringMap(_ key: String) throws(APIError) -> [String: String]? {
        guard let value = members[key] else { return nil }
        guard let object = value as? [String: Any] else { throw typeError(key, "an object of strings") }
        var map: [String: String] = [:]
        for (name, item) in object {
            guard let text = item as? String else { throw typeError(key, "an object of strings") }
            map[name] = text
        }
        return map
    }

    func doubleMap(_ key: String) throws(APIError) -> [String: Double]? {
        guard let value = members[key] else { return nil }
        guard let object = value as? [String: Any] else { throw typeError(key, "an object of numbers") }
        var map: [String: Double] = [:]
        for (name, item) in object {
            guard !(item is String), let number = item as? NSNumber else {
                throw typeError(key, "an object of numbers")
            }
            map[name] = number.doubleValue
        }
        return map
    }

    func strings(_ key: String) throws(APIError) -> [String]? {
        guard let value = members[key] else { return nil }
        guard let array = value as? [Any] else { throw typeError(key, "an array of strings") }
        var strings: [String] = []
        for item in array {
            guard let text = item as? String else { throw typeError(key, "an array of strings") }
            strings.append(text)
        }
        return strings
    }
}
