import AlbatrossTestKit

extension TemporaryDirectory {
    /// The function code directories the example and the tests refer to.
    func makeFunctionCode(under prefix: String = "") throws {
        try write(prefix + "functions/echo/bootstrap", "#!/bin/sh\nexit 0\n", executable: true)
        try write(prefix + "functions/hello-python/app.py", "def handler(event, context):\n    return {}\n")
        try write(prefix + "functions/plain/bootstrap", "#!/bin/sh\n", executable: false)
        try makeDirectory(prefix + "functions/empty")
        try write(prefix + "functions/bundle.zip", "PK")
        try write(prefix + "functions/notes.txt", "not code")
        try write(prefix + "certs/local.pem", "cert")
        try write(prefix + "certs/local-key.pem", "key")
        try write(prefix + "certs/other.pem", "cert")
        try write(prefix + "certs/other-key.pem", "key")
    }
}
