/// Where log groups and streams live under the data directory: one place for the writer, the reader and the
/// retention sweep.
public enum LogGroupPaths {
    /// `<data>/aws/lambda/<function>` for `/aws/lambda/<function>`; a custom group `my/group` is `<data>/my/group`.
    /// Group names were checked at load (no `.` or `..` components).
    public static func directory(dataDirectory: String, groupName: String) -> String {
        groupName.hasPrefix("/") ? dataDirectory + groupName : dataDirectory + "/" + groupName
    }

    /// The version a stream name carries: `2026/12/01/[3]abc…` → `3`.
    public static func version(ofStream streamName: String) -> String? {
        let last = streamName.split(separator: "/").last ?? Substring(streamName)
        guard last.hasPrefix("["), let close = last.firstIndex(of: "]") else { return nil }
        return String(last[last.index(after: last.startIndex)..<close])
    }
}
