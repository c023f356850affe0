import Foundation

/// Durable file writes: a file is written to a temporary name beside its destination, synced, then renamed, so a
/// crash leaves either no file or the whole file, never part of one.
enum FileStore {
    static func writeAtomically(_ data: Data, to path: String) throws(RegistryError) {
        let temporary = "\(path).\(getpid()).\(UUID().uuidString).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .store("cannot create \(temporary) (errno \(errno))") }
        var complete = false
        defer { if !complete { unlink(temporary) } }
        let written = data.withUnsafeBytes { buffer -> Bool in
            var offset = 0
            while offset < buffer.count {
                let count = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { return false }
                offset += count
            }
            return true
        }
        let synced = fsync(fd) == 0
        close(fd)
        guard written, synced else { throw .store("cannot write \(path) (errno \(errno))") }
        guard rename(temporary, path) == 0 else {
            throw .store("cannot rename \(temporary) to \(path) (errno \(errno))")
        }
        complete = true
        syncDirectory(of: path)
    }

    /// Makes a rename or a new file in the directory of `path` durable.
    static func syncDirectory(of path: String) {
        let directory = (path as NSString).deletingLastPathComponent
        let fd = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }

    static func createDirectory(_ path: String) throws(RegistryError) {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw .store("cannot create the directory \(path): \(error)")
        }
    }
}
