import CZlib

/// One zlib call over a whole input and a preallocated output, as both zip directions use it (raw deflate
/// streams, `Z_FINISH` in a single step).
enum ZlibStream {
    /// Points `stream` at `input` and `output` and runs `call` (deflate or inflate) once; returns its status.
    static func finish(
        _ stream: inout z_stream, input: [UInt8], output: inout [UInt8],
        _ call: (UnsafeMutablePointer<z_stream>, Int32) -> Int32
    ) -> Int32 {
        var input = input
        return input.withUnsafeMutableBufferPointer { inputBuffer in
            output.withUnsafeMutableBufferPointer { outputBuffer in
                stream.next_in = inputBuffer.baseAddress
                stream.avail_in = uInt(inputBuffer.count)
                stream.next_out = outputBuffer.baseAddress
                stream.avail_out = uInt(outputBuffer.count)
                return call(&stream, Z_FINISH)
            }
        }
    }
}
