internal import COpenSSL

/// OpenSSL reports failures through a per-thread error queue. Every call into libssl starts with a cleared
/// queue (so a stale entry of another connection on the same event loop thread is never blamed), and every
/// failure drains it into text.
enum OpenSSLErrorQueue {
    static func clear() {
        ERR_clear_error()
    }

    /// Drains the queue and returns its entries joined with "; ", oldest first.
    static func drain() -> String {
        var entries: [String] = []
        var buffer = [CChar](repeating: 0, count: 256)
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            ERR_error_string_n(code, &buffer, buffer.count)
            entries.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return entries.joined(separator: "; ")
    }

    static func error(_ operation: String) -> TLSError {
        .openSSL(operation, drain())
    }
}
