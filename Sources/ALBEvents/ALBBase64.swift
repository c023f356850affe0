public import NIOCore

/// Standard RFC 4648 base64 with padding and no line breaks, the alphabet ALB uses for `body` in both
/// directions. Encoding writes straight into a `ByteBuffer` (the event is built there); decoding is strict:
/// the length must be a multiple of four, `=` may only end the input (at most two), and anything outside the
/// alphabet, including CR, LF and spaces, is refused. Non-zero bits in the final padded group are ignored, as
/// common decoders do.
public enum ALBBase64 {
    /// The encoded length of `count` bytes.
    public static func encodedLength(of count: Int) -> Int {
        (count + 2) / 3 * 4
    }

    /// Appends the base64 form of `bytes` to `buffer`; returns the number of bytes written.
    @discardableResult
    public static func encode(_ bytes: UnsafeRawBufferPointer, into buffer: inout ByteBuffer) -> Int {
        let length = encodedLength(of: bytes.count)
        guard length > 0 else { return 0 }
        return buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { output in
            encode(bytes, to: output)
            return length
        }
    }

    /// Appends the base64 form of the readable bytes of `source` to `buffer`; returns the bytes written.
    @discardableResult
    public static func encode(_ source: ByteBuffer, into buffer: inout ByteBuffer) -> Int {
        source.withUnsafeReadableBytes { encode($0, into: &buffer) }
    }

    /// The base64 form of `bytes` as a `String`.
    public static func encode(_ bytes: some Collection<UInt8>) -> String {
        let array = Array(bytes)
        let length = encodedLength(of: array.count)
        return array.withUnsafeBytes { source in
            String(unsafeUninitializedCapacity: length) { output in
                encode(source, to: UnsafeMutableRawBufferPointer(output))
                return length
            }
        }
    }

    /// Decodes `encoded` strictly and appends the bytes to `buffer`. Returns false, leaving `buffer`
    /// unchanged, when `encoded` is not canonical padded base64.
    public static func decode(_ encoded: UnsafeRawBufferPointer, into buffer: inout ByteBuffer) -> Bool {
        guard encoded.count % 4 == 0 else { return false }
        guard !encoded.isEmpty else { return true }
        let capacity = encoded.count / 4 * 3
        let start = buffer.writerIndex
        var valid = true
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: capacity) { output in
            guard let written = decode(encoded, to: output) else {
                valid = false
                return 0
            }
            return written
        }
        if !valid { buffer.moveWriterIndex(to: start) }
        return valid
    }

    /// Decodes `encoded` strictly; nil when it is not canonical padded base64.
    public static func decode(_ encoded: some StringProtocol) -> [UInt8]? {
        var text = String(encoded)
        return text.withUTF8 { source -> [UInt8]? in
            guard source.count % 4 == 0 else { return nil }
            var valid = true
            let bytes = [UInt8](unsafeUninitializedCapacity: source.count / 4 * 3) { output, count in
                let written = decode(UnsafeRawBufferPointer(source), to: UnsafeMutableRawBufferPointer(output))
                valid = written != nil
                count = written ?? 0
            }
            return valid ? bytes : nil
        }
    }

    // MARK: - Core loops

    private static let alphabet: StaticString = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

    /// 0–63 for alphabet bytes, 0xFF for everything else.
    private static let decodeTable: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        let letters = Array(UnsafeBufferPointer(start: alphabet.utf8Start, count: alphabet.utf8CodeUnitCount))
        for (value, byte) in letters.enumerated() { table[Int(byte)] = UInt8(value) }
        return table
    }()

    private static func encode(_ input: UnsafeRawBufferPointer, to output: UnsafeMutableRawBufferPointer) {
        let table = alphabet.utf8Start
        var inIndex = 0
        var outIndex = 0
        let fullGroups = input.count / 3 * 3
        while inIndex < fullGroups {
            let b0 = input[inIndex]
            let b1 = input[inIndex + 1]
            let b2 = input[inIndex + 2]
            output[outIndex] = table[Int(b0 >> 2)]
            output[outIndex + 1] = table[Int((b0 & 0x03) << 4 | b1 >> 4)]
            output[outIndex + 2] = table[Int((b1 & 0x0F) << 2 | b2 >> 6)]
            output[outIndex + 3] = table[Int(b2 & 0x3F)]
            inIndex += 3
            outIndex += 4
        }
        let remaining = input.count - fullGroups
        if remaining > 0 {
            let b0 = input[inIndex]
            let b1: UInt8 = remaining == 2 ? input[inIndex + 1] : 0
            output[outIndex] = table[Int(b0 >> 2)]
            output[outIndex + 1] = table[Int((b0 & 0x03) << 4 | b1 >> 4)]
            output[outIndex + 2] = remaining == 2 ? table[Int((b1 & 0x0F) << 2)] : UInt8(ascii: "=")
            output[outIndex + 3] = UInt8(ascii: "=")
        }
    }

    /// Decodes a length-multiple-of-four input; returns the bytes written or nil.
    private static func decode(_ input: UnsafeRawBufferPointer, to output: UnsafeMutableRawBufferPointer) -> Int? {
        decodeTable.withUnsafeBufferPointer { table -> Int? in
            let count = input.count
            guard count > 0 else { return 0 }
            var padding = 0
            if input[count - 1] == UInt8(ascii: "=") {
                padding = input[count - 2] == UInt8(ascii: "=") ? 2 : 1
            }
            var inIndex = 0
            var outIndex = 0
            let lastGroup = count - 4
            while inIndex < count {
                let isLast = inIndex == lastGroup
                let c0 = table[Int(input[inIndex])]
                let c1 = table[Int(input[inIndex + 1])]
                let c2 = isLast && padding == 2 ? 0 : table[Int(input[inIndex + 2])]
                let c3 = isLast && padding >= 1 ? 0 : table[Int(input[inIndex + 3])]
                guard (c0 | c1 | c2 | c3) & 0xC0 == 0 else { return nil }
                output[outIndex] = c0 << 2 | c1 >> 4
                if isLast && padding == 2 {
                    outIndex += 1
                } else if isLast && padding == 1 {
                    output[outIndex + 1] = c1 << 4 | c2 >> 2
                    outIndex += 2
                } else {
                    output[outIndex + 1] = c1 << 4 | c2 >> 2
                    output[outIndex + 2] = c2 << 6 | c3
                    outIndex += 3
                }
                inIndex += 4
            }
            return outIndex
        }
    }
}
