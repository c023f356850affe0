import Foundation

/// The 32-byte key that encrypts environment variables at rest: `<data>/registry.key`, created with mode 0600
/// when missing. A key file that group or others may read or write is refused, naming the file.
enum KeyFile {
    static func loadOrCreate(at path: String) throws(RegistryError) -> [UInt8] {
        var info = stat()
        if lstat(path, &info) != 0 {
            guard errno == ENOENT else { throw .store("cannot inspect the key file \(path) (errno \(errno))") }
            try create(at: path)
            guard lstat(path, &info) == 0 else { throw .store("cannot inspect the key file \(path) (errno \(errno))") }
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw .store("the key file \(path) is not a regular file")
        }
        let permissions = info.st_mode & 0o777
        if permissions & 0o077 != 0 {
            throw .store(
                "the key file \(path) has mode \(String(permissions, radix: 8)); it must be readable by its owner "
                    + "only (chmod 600 \(path))")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .store("cannot read the key file \(path)")
        }
        guard data.count == EnvironmentCipher.keyLength else {
            throw .store(
                "the key file \(path) holds \(data.count) bytes, not the \(EnvironmentCipher.keyLength) of an "
                    + "AES-256 key")
        }
        return [UInt8](data)
    }

    /// Writes a new random key into a temporary file with mode 0600, then links it into place so that a
    /// concurrent creator cannot leave a half-written key (the first link wins; the loser reads the winner's).
    private static func create(at path: String) throws(RegistryError) {
        let temporary = "\(path).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp"
        let fd = Foundation.open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .store("cannot create the key file \(path) (errno \(errno))") }
        defer { unlink(temporary) }
        let key = EnvironmentCipher.randomBytes(EnvironmentCipher.keyLength)
        let written = key.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fchmod(fd, 0o600) == 0 && fsync(fd) == 0
        close(fd)
        guard written == key.count, synced else { throw .store("cannot write the key file \(path)") }
        if link(temporary, path) != 0 && errno != EEXIST {
            throw .store("cannot create the key file \(path) (errno \(errno))")
        }
        FileStore.syncDirectory(of: path)
    }
}
