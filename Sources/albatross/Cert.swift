import AlbatrossApp
import AlbatrossTLS
import ArgumentParser

/// `albatross cert`: a local certificate authority and leaf certificates, so that curl, browsers and Python
/// trust HTTPS listeners without `-k`.
struct Cert: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a local certificate authority (once) and a certificate for the given host names.",
        discussion: """
            The authority (ca.pem, ca-key.pem) is created in --dir when missing and reused afterwards. The leaf \
            certificate and its key are written to --dir as <name>.pem and <name>-key.pem, where <name> is \
            --name or the first host. Give clients ca.pem to trust: curl --cacert DIR/ca.pem, or \
            SSL_CERT_FILE / ssl.create_default_context(cafile=...) in Python.
            """)

    @Option(name: .long, help: "Where the authority and the certificates live.")
    var dir: String = "certs"

    @Option(
        name: .long,
        help: "A host name or IP address for the certificate (repeatable; wildcards like *.local.test work).")
    var host: [String] = ["localhost", "127.0.0.1", "::1"]

    @Option(name: .long, help: "The file stem of the certificate (default: the first host).")
    var name: String?

    @Option(name: .long, help: "Validity in days.")
    var days: Int = 365

    @Flag(name: .long, help: "Use an RSA 2048 key instead of ECDSA P-256.")
    var rsa = false

    func run() async throws {
        do {
            // The authority creates the directory itself, mode 0700, and names the path when it cannot.
            let authority = try CertificateAuthority.openOrCreate(in: dir)
            let issued = try authority.issue(
                hostNames: host, keyType: rsa ? .rsa(bits: 2048) : .ecdsaP256, validityDays: days,
                outputDirectory: dir, fileStem: name)
            ConsoleOutput.line("certificate authority: \(authority.certificatePath)")
            ConsoleOutput.line("certificate:           \(issued.certificatePath)")
            ConsoleOutput.line("private key:           \(issued.privateKeyPath)")
            ConsoleOutput.line(
                "names:                 \((issued.dnsNames + issued.ipAddresses).joined(separator: ", "))")
            ConsoleOutput.line("trust it with:         curl --cacert \(authority.certificatePath) https://...")
        } catch {
            ConsoleOutput.error("albatross: \(error)")
            throw ExitCode(1)
        }
    }
}
