import Foundation
import LambdaModel

/// `LastModified` as AWS writes it: `YYYY-MM-DDThh:mm:ss.sss+0000` (UTC, milliseconds, no colon in the offset).
enum Timestamps {
    static func now() -> String {
        let now = WallClock.epochMilliseconds()
        return format(seconds: Int(now / 1000), milliseconds: Int(now % 1000))
    }

    /// `YYYY-MM-DDThh:mm:ss+0000`, the form of provisioned-concurrency configurations' `LastModified`.
    static func nowWithoutMilliseconds() -> String {
        let text = now()
        return String(text.prefix(19)) + "+0000"
    }

    static func format(seconds: Int, milliseconds: Int) -> String {
        // CivilDate's ISO-8601 form with AWS's offset instead of `Z`.
        let iso = CivilDate.iso8601(epochMilliseconds: Int64(seconds) * 1000 + Int64(milliseconds))
        return iso.dropLast() + "+0000"
    }

    /// A RevisionId: a random (version 4) UUID in lower case, as AWS writes them.
    static func newRevisionId() -> String { UUID().uuidString.lowercased() }
}
