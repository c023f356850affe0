import Foundation
public import LambdaModel

/// Turns a function's code location into a task root directory.
public enum CodePreparer {
    public struct PreparationError: Error, CustomStringConvertible {
        public var description: String
    }

    /// The task root for `function`: its directory as it is. Blocking; call at start-up, off event loops.
    public static func taskRoot(for function: FunctionConfiguration, dataDirectory: String) throws -> String {
        switch function.code {
        case .directory(let path):
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw PreparationError(description: "function \(function.name): code directory \(path) does not exist")
            }
            return path
        case .zip(let path):
            return try ZipUnpacker.unpack(archive: path, functionName: function.name, dataDirectory: dataDirectory)
        }
    }
}
