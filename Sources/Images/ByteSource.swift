internal import AlbatrossCrypto
import CZlib
import Foundation

/// A stream of bytes a layer is read from: a range of a file (a blob, or a member of a `docker save` tarball),
/// possibly through gzip. Reads are blocking file reads.
protocol ByteSource {
    /// Fills at most `buffer.count` bytes; 0 at the end.
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(TarError) -> Int
    /// Moves past `count` bytes without reading them, when the source can (a file); false: read them instead.
    mutating func skip(_ count: UInt64) -> Bool
}

extension ByteSource {
    mutating func skip(_ count: UInt64) -> Bool { false }
}

extension ByteSource {
    /// Reads into `array[offset...]` (a typed-throwing read where `withUnsafeMutableBytes` only rethrows).
    mutating func read(into array: inout [UInt8], at offset: Int = 0) throws(TarError) -> Int {
        let result = array.withUnsafeMutableBytes { raw in
            Result { () throws(TarError) -> Int in
                try self.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[offset...]))
            }
        }
        return try result.get()
    }
}

/// A byte range of a file on disk: where a blob is.
struct FileRange: Sendable, Hashable {
    var path: String
    var offset: UInt64
    var length: UInt64
}

/// Reads a ``FileRange`` with `pread`; the descriptor is closed when the source is released.
final class FileRangeSource: ByteSource {
    private let fd: Int32
    private var position: UInt64
    private var remaining: UInt64

    init(_ range: FileRange) throws(TarError) {
        fd = open(range.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw TarError("cannot open \(range.path) (errno \(errno))") }
        position = range.offset
        remaining = range.length
    }

    deinit { close(fd) }

    func skip(_ count: UInt64) -> Bool {
        guard count <= remaining else { return false }
        position += count
        remaining -= count
        return true
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(TarError) -> Int {
        let wanted = Int(min(UInt64(buffer.count), remaining))
        guard wanted > 0 else { return 0 }
        while true {
            let count = pread(fd, buffer.baseAddress, wanted, off_t(position))
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                throw TarError(count == 0 ? "the file ends early" : "cannot be read (errno \(errno))")
            }
            position += UInt64(count)
            remaining -= UInt64(count)
            return count
        }
    }

    /// The SHA-256 and length of the whole range, read in chunks.
    static func digest(of range: FileRange) throws(TarError) -> (hex: String, length: UInt64) {
        let source = try FileRangeSource(range)
        let hasher = SHA256Hasher()
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var total: UInt64 = 0
        while true {
            var reader = source
            let count = try reader.read(into: &buffer)
            if count == 0 { break }
            buffer.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
            total += UInt64(count)
        }
        return (hasher.hex(), total)
    }
}

/// gzip over another source (concatenated members too, as `gzip` allows), with zlib.
final class GzipSource<Inner: ByteSource>: ByteSource {
    private var inner: Inner
    private var stream = z_stream()
    private var input = [UInt8](repeating: 0, count: 1 << 16)
    private var inputStart = 0
    private var inputEnd = 0
    private var innerEnded = false
    private var ended = false

    init(_ inner: Inner) throws(TarError) {
        self.inner = inner
        guard albatross_inflate_init_auto(&stream) == Z_OK else { throw TarError("cannot start inflating") }
    }

    deinit { inflateEnd(&stream) }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(TarError) -> Int {
        guard buffer.count > 0 else { return 0 }
        while !ended {
            if inputStart == inputEnd && !innerEnded {
                let count = try inner.read(into: &input)
                inputStart = 0
                inputEnd = count
                if count == 0 { innerEnded = true }
            }
            if inputStart == inputEnd && innerEnded { throw TarError("the gzip stream is truncated") }
            let (status, consumed, produced) = input.withUnsafeMutableBufferPointer { inputBuffer in
                stream.next_in = inputBuffer.baseAddress! + inputStart
                stream.avail_in = uInt(inputEnd - inputStart)
                stream.next_out = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
                stream.avail_out = uInt(buffer.count)
                let status = inflate(&stream, Z_NO_FLUSH)
                return (status, inputEnd - inputStart - Int(stream.avail_in), buffer.count - Int(stream.avail_out))
            }
            inputStart += consumed
            if status == Z_OK || (status == Z_BUF_ERROR && (produced > 0 || consumed > 0)) {
                if produced > 0 { return produced }
                continue
            }
            switch status {
            case Z_STREAM_END:
                // Another member may follow; anything else after the last member is not gzip.
                if inputStart == inputEnd && !innerEnded {
                    let count = try inner.read(into: &input)
                    inputStart = 0
                    inputEnd = count
                    if count == 0 { innerEnded = true }
                }
                if inputStart == inputEnd {
                    ended = true
                } else {
                    inflateReset(&stream)
                }
            default:
                throw TarError("the gzip stream is corrupt (zlib status \(status))")
            }
            if produced > 0 { return produced }
        }
        return 0
    }
}

/// Passes another source through, hashing what it reads: a layer's DiffID is the SHA-256 of its uncompressed tar.
final class HashingSource<Inner: ByteSource>: ByteSource {
    private var inner: Inner
    let hasher = SHA256Hasher()

    init(_ inner: Inner) { self.inner = inner }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(TarError) -> Int {
        let count = try inner.read(into: buffer)
        hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
        return count
    }

    /// Reads the rest (a tar's zero padding after its end blocks counts too) and returns the hex digest.
    func drainAndDigest() throws(TarError) -> String {
        var scratch = [UInt8](repeating: 0, count: 1 << 16)
        var source = self
        while try source.read(into: &scratch) > 0 {}
        return hasher.hex()
    }
}

/// ``SHA256/Hasher`` with the hex result this module compares digests by.
typealias SHA256Hasher = SHA256.Hasher

extension SHA256.Hasher {
    func hex() -> String { SHA256.hex(finish()) }
}
