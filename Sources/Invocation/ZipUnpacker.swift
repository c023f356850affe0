enum ZipUnpacker {
    static func unpack(archive: String, functionName: String, dataDirectory: String) throws -> String {
        throw CodePreparer.PreparationError(description: "TODO zip")
    }
}
