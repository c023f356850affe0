// libFuzzer target: ALBEvents' result decoder, which turns a function's JSON result into the ALB's HTTP response
// (or its 502), in both header modes and with a shuffled multi-value order.
//
// Checks beyond "does not crash": an accepted result has a status in the valid range, only header names that are
// tokens and values without control characters, none of the headers the ALB drops, a Content-Type, and a header
// block within the limit; a refusal is a 502.
import ALBEvents
import NIOCore

/// A fixed-seed generator, so that every run of an input takes the same path (libFuzzer needs determinism).
private struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzResultDecoder(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    let result = ByteBuffer(bytes: UnsafeRawBufferPointer(start: data, count: size))
    var random = SplitMix(state: UInt64(size))
    for (multiValue, order) in [(false, MultiValueOrder.standard), (true, .standard), (true, .shuffle)] {
        do {
            let response = try ALBResultDecoder.decode(
                result, multiValueHeaders: multiValue, order: order, random: &random, allocator: ByteBufferAllocator())
            check(ALBResultDecoder.validStatusCodes.contains(response.status), "status \(response.status)")
            check(!response.reasonPhrase.utf8.contains { $0 == 13 || $0 == 10 }, "CR/LF in reason phrase")
            var block = 0
            var hasContentType = false
            for header in response.headers {
                check(!header.name.isEmpty, "empty header name")
                for byte in header.name.utf8 {
                    check(byte > 32 && byte < 127 && !"()<>@,;:\\\"/[]?={}".utf8.contains(byte), "name")
                }
                check(!header.value.utf8.contains { ($0 < 32 && $0 != 9) || $0 == 127 }, "control in value")
                let lower = header.name.lowercased()
                check(!ALBResultDecoder.droppedHeaderNames.contains(lower), "dropped header \(lower) kept")
                if lower == "content-type" { hasContentType = true }
                block += header.name.utf8.count + header.value.utf8.count + 4
            }
            check(hasContentType, "no Content-Type")
            check(block <= ALBResultDecoder.maximumHeaderBlockSize, "header block \(block)")
        } catch {
            check(error.status == 502, "refusal with status \(error.status)")
        }
    }
    return 0
}

/// `precondition` with its message kept in release builds (libFuzzer's log then says what went wrong).
private func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError(message()) }
}
