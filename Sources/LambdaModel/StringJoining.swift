extension String {
    /// `parts` one after the other, made in one allocation. Interpolation and `+=` grow the string once a part
    /// (about 500 instructions each); the invoke path builds ARNs and trace headers this way on every request
    /// (issue 14).
    @inlinable
    public init(joining parts: [String]) {
        var total = 0
        for part in parts { total += part.utf8.count }
        self.init(unsafeUninitializedCapacity: total) { output in
            var position = 0
            for part in parts {
                position += String.copyUTF8(of: part, into: UnsafeMutableBufferPointer(rebasing: output[position...]))
            }
            return position
        }
    }

    /// Copies `string`'s UTF-8 to the start of `output` (which has room for it); returns how many bytes.
    @inlinable
    static func copyUTF8(of string: String, into output: UnsafeMutableBufferPointer<UInt8>) -> Int {
        if let count = string.utf8.withContiguousStorageIfAvailable({ utf8 -> Int in
            guard let source = utf8.baseAddress, utf8.count > 0 else { return 0 }
            output.baseAddress!.update(from: source, count: utf8.count)
            return utf8.count
        }) {
            return count
        }
        var count = 0
        for byte in string.utf8 {
            output[count] = byte
            count += 1
        }
        return count
    }
}
