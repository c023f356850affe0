// libFuzzer target: ALBEvents' strict JSON parser, which reads every function result.
//
// Checks beyond "does not crash": parsing the bytes from a ByteBuffer and from a String gives the same answer;
// a document that parses is written back with the event encoder's JSON string writer and parses to the same
// value (so the writer and the parser agree on escapes and UTF-8).
import ALBEvents
import NIOCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSONParser(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    let buffer = ByteBuffer(bytes: bytes)
    let fromBuffer = Result { () throws(JSONParseError) in try JSONParser.parse(buffer) }
    if let text = String(validating: bytes, as: UTF8.self) {
        let fromString = Result { () throws(JSONParseError) in try JSONParser.parse(text) }
        switch (fromBuffer, fromString) {
        case (.success(let a), .success(let b)): check(a == b, "buffer and string parses differ")
        case (.failure(let a), .failure(let b)): check(a == b, "buffer and string errors differ: \(a) / \(b)")
        default: fatalError("buffer and string parses disagree: \(fromBuffer) / \(fromString)")
        }
    }
    guard case .success(let value) = fromBuffer else { return 0 }
    var written = ByteBuffer()
    write(value, into: &written)
    let reparsed: JSONValue
    do {
        reparsed = try JSONParser.parse(written)
    } catch {
        fatalError("re-written document does not parse: \(error): \(String(buffer: written))")
    }
    check(reparsed == value, "re-written document parses to another value: \(String(buffer: written))")
    return 0
}

private func write(_ value: JSONValue, into buffer: inout ByteBuffer) {
    switch value {
    case .null: buffer.writeString("null")
    case .bool(let flag): buffer.writeString(flag ? "true" : "false")
    case .number(let number): buffer.writeString(number.text)
    case .string(let text): buffer.writeJSONString(text)
    case .array(let elements):
        buffer.writeString("[")
        for (index, element) in elements.enumerated() {
            if index > 0 { buffer.writeString(",") }
            write(element, into: &buffer)
        }
        buffer.writeString("]")
    case .object(let object):
        buffer.writeString("{")
        for (index, member) in object.members.enumerated() {
            if index > 0 { buffer.writeString(",") }
            buffer.writeJSONString(member.key)
            buffer.writeString(":")
            write(member.value, into: &buffer)
        }
        buffer.writeString("}")
    }
}

/// `precondition` with its message kept in release builds (libFuzzer's log then says what went wrong).
private func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError(message()) }
}
