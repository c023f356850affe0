import AlbatrossCrypto
import CodeStore
import Foundation
public import LambdaModel

/// A code package stored in `<data>/code-store/<hex sha256>.zip`.
struct StoredPackage: Sendable, Hashable {
    var hexDigest: String
    /// CodeSha256: base64 of the digest.
    var codeSha256: String
    var size: Int
    var path: String
}

extension Registry {
    /// The package bytes for a code location: a directory is packed deterministically, a .zip is taken as is
    /// (after checking that it is one). `what` names the owner in errors: `function orders`, `layer common`.
    func packageBytes(_ code: CodeLocation, what: String) throws(RegistryError) -> Data {
        switch code {
        case .directory(let path):
            do {
                return try DeterministicZip.pack(directory: path)
            } catch {
                throw RegistryError(
                    .invalidParameterValue, "cannot pack the code directory of \(what): \(error)")
            }
        case .zip(let path):
            guard let data = FileManager.default.contents(atPath: path) else {
                throw RegistryError(
                    .invalidParameterValue, "cannot read the code package \(path) of \(what)")
            }
            do {
                _ = try ZipArchive.entries(of: data, archive: path)
            } catch {
                throw RegistryError(
                    .invalidParameterValue,
                    "Could not unzip uploaded file. Please check your file, then try to upload again. (\(error))")
            }
            return data
        case .image(let path):
            throw RegistryError(
                .invalidParameterValue,
                "\(what) runs the container image \(path): image functions run from the configuration as "
                    + "$LATEST and are not stored (no versions)")
        }
    }

    /// The CodeSha256 that `code` would be stored under, computed without storing anything: to compare declared
    /// code with a published version's without touching `$LATEST`.
    public func codeSha256(of code: CodeLocation, what: String) throws(RegistryError) -> String {
        SHA256.base64(SHA256.digest(try packageBytes(code, what: what)))
    }

    /// Stores `data` once under its SHA-256. An existing blob is kept when its bytes match, replaced otherwise.
    func store(package data: Data) throws(RegistryError) -> StoredPackage {
        let digest = SHA256.digest(data)
        let hex = SHA256.hex(digest)
        let path = packagePath(hex: hex)
        let existing = FileManager.default.contents(atPath: path)
        if existing.map({ SHA256.digest($0) != digest }) ?? true {
            try FileStore.writeAtomically(data, to: path)
        }
        return StoredPackage(hexDigest: hex, codeSha256: SHA256.base64(digest), size: data.count, path: path)
    }

    func packagePath(hex: String) -> String { "\(codeStoreDirectory)/\(hex).zip" }
}
