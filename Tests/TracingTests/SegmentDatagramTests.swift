import Testing
import Tracing

struct SegmentDatagramTests {
    static let document =
        #"{"name":"Scorekeep","id":"70de5b6f19ff9a0a","start_time":1.478293361271E9,"trace_id":"1-581cf771-a006649127e371903a2de979","end_time":1.478293361449E9}"#

    static func datagram(_ header: String, _ body: String) -> [UInt8] { Array((header + "\n" + body).utf8) }

    @Test func acceptsTheSDKsDatagramWithAnySpacingAndFormatCase() throws {
        for header in [#"{"format":"json","version":1}"#, #"{"format": "JSON", "version": 1}"#] {
            let parsed = try SegmentDatagram.parse(Self.datagram(header, Self.document)).get()
            #expect(parsed.traceID == "1-581cf771-a006649127e371903a2de979" && parsed.id == "70de5b6f19ff9a0a")
            #expect(parsed.json == Self.document)
        }
    }

    @Test func acceptsASubsegmentSentAloneAndOneInProgress() throws {
        let subsegment =
            #"{"type":"subsegment","parent_id":"9a9197af755a6419","name":"call","id":"0000000000000001","trace_id":"1-581cf771-a006649127e371903a2de979","start_time":1,"in_progress":true}"#
        let parsed = try SegmentDatagram.parse(Self.datagram(#"{"format":"json","version":1}"#, subsegment)).get()
        #expect(parsed.id == "0000000000000001")
        // Newlines between tokens are whitespace; the stored line has none.
        let spread = subsegment.replacingOccurrences(of: ",", with: ",\n")
        let line = try SegmentDatagram.parse(Self.datagram(#"{"format":"json","version":1}"#, spread)).get()
        #expect(!line.json.contains("\n"))
    }

    @Test func refusesWhatTheDaemonRefuses() {
        let header = #"{"format":"json","version":1}"#
        #expect(SegmentDatagram.parse(Array(Self.document.utf8)) == .failure(.noHeader))
        #expect(
            SegmentDatagram.parse(Self.datagram(#"{"format":"xml","version":1}"#, Self.document))
                == .failure(.badHeader))
        #expect(
            SegmentDatagram.parse(Self.datagram(#"{"format":"json","version":2}"#, Self.document))
                == .failure(.badHeader))
        #expect(SegmentDatagram.parse(Self.datagram("not json", Self.document)) == .failure(.badHeader))
        #expect(SegmentDatagram.parse(Self.datagram(header, "  ")) == .failure(.emptyBody))
        #expect(SegmentDatagram.parse(Array(repeating: 32, count: 70_000)) == .failure(.oversized))
        let cases: [(String, String)] = [
            ("[1,2]", "not a JSON object"),
            (
                #"{"name":"a","id":"xyz","trace_id":"1-581cf771-a006649127e371903a2de979","start_time":1,"end_time":2}"#,
                "id"
            ),
            (
                #"{"name":"a","id":"70de5b6f19ff9a0a","trace_id":"1-581cf771-a0066","start_time":1,"end_time":2}"#,
                "trace_id"
            ),
            (
                #"{"name":"a","id":"70de5b6f19ff9a0a","trace_id":"1-581cf771-a006649127e371903a2de979","start_time":1}"#,
                "end_time"
            ),
            (
                #"{"name":"a","id":"70de5b6f19ff9a0a","trace_id":"1-581cf771-a006649127e371903a2de979","start_time":"1","end_time":2}"#,
                "start_time"
            ),
            (
                #"{"id":"70de5b6f19ff9a0a","trace_id":"1-581cf771-a006649127e371903a2de979","start_time":1,"end_time":2}"#,
                "name"
            ),
            (
                #"{"type":"subsegment","name":"a","id":"70de5b6f19ff9a0a","trace_id":"1-581cf771-a006649127e371903a2de979","start_time":1,"end_time":2}"#,
                "parent_id"
            ),
        ]
        for (body, problem) in cases {
            guard case .failure(.badDocument(let message)) = SegmentDatagram.parse(Self.datagram(header, body)) else {
                Issue.record("accepted \(body)")
                continue
            }
            #expect(message.contains(problem), "\(body): \(message)")
        }
    }
}
