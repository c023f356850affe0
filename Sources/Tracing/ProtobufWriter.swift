/// Writes protobuf's wire format (the counterpart of ``ProtobufReader``): what the OTLP receiver answers with
/// (`google.rpc.Status`, `ExportTraceServiceResponse`) and what the exporter sends (`ExportTraceServiceRequest`).
/// Fields are written in the order called; default values are the caller's to leave out, as proto3 does.
struct ProtobufWriter {
    private(set) var bytes: [UInt8] = []

    init() {}

    mutating func varint(_ number: Int, _ value: UInt64) {
        key(number, wireType: 0)
        raw(varint: value)
    }

    mutating func fixed64(_ number: Int, _ value: UInt64) {
        key(number, wireType: 1)
        for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }

    mutating func bytes(_ number: Int, _ value: some Collection<UInt8>) {
        key(number, wireType: 2)
        raw(varint: UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    mutating func string(_ number: Int, _ value: String) {
        bytes(number, Array(value.utf8))
    }

    /// A nested message, written by `body` into a writer of its own.
    mutating func message(_ number: Int, _ body: (inout ProtobufWriter) -> Void) {
        var nested = ProtobufWriter()
        body(&nested)
        bytes(number, nested.bytes)
    }

    private mutating func key(_ number: Int, wireType: UInt64) {
        raw(varint: UInt64(number) << 3 | wireType)
    }

    private mutating func raw(varint value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }
}
