package import ALBEvents
package import NIOCore
package import Routing

/// One call of each hot-path step exactly as the front end makes it (`ALBRequestHandler`): a fresh event buffer
/// sized like the handler's, the system random generator for trace ids, `.reverse` multi-value order. The
/// benchmarks, the instruction counter and the checks share these so that what is checked is what is measured.
package enum Operations {
    package static let singleValueOptions = Fixtures.options(multiValue: false)
    package static let multiValueOptions = Fixtures.options(multiValue: true)
    package static let router = ListenerRouter(RouterFixture.configuration)

    /// Encodes `head` and `body` into a new buffer; returns it and the trace header.
    package static func encode(
        _ head: ALBRequestHead, body: ByteBuffer?, options: ALBEventOptions,
        random: inout SystemRandomNumberGenerator
    ) -> (event: ByteBuffer, trace: String) {
        var event = Fixtures.allocator.buffer(capacity: 1024 + (body?.readableBytes ?? 0) * 4 / 3)
        do {
            let trace = try ALBEventEncoder.encode(
                head: head, body: body, connection: Fixtures.connection, options: options,
                now: Fixtures.epochSeconds, random: &random, into: &event)
            return (event, trace)
        } catch {
            fatalError("encoding the \(head.method) \(head.uri) fixture was rejected: \(error)")
        }
    }

    /// Decodes a function result as the front end does.
    package static func decode(
        _ result: ByteBuffer, multiValue: Bool, random: inout SystemRandomNumberGenerator
    ) -> ALBResponse {
        do {
            return try ALBResultDecoder.decode(
                result, multiValueHeaders: multiValue, order: .standard, random: &random,
                allocator: Fixtures.allocator)
        } catch {
            fatalError("decoding the result fixture (multiValue: \(multiValue)) was rejected: \(error)")
        }
    }

    /// Routes `facts` through the 20-rule listener.
    package static func route(_ facts: RequestFacts) -> RuleAction {
        router.route(facts)
    }
}
