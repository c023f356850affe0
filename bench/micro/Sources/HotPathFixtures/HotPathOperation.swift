import Routing

/// The measured operations, one list for both the benchmark suite and the instruction counter, so the two
/// always measure the same thing. Inputs are built before the loop; each loop iteration is one operation.
package enum HotPathOperation: String, CaseIterable, Sendable {
    case baseline = "baseline"
    case encodeGetSingle = "encode-get-single"
    case encodeGetMulti = "encode-get-multi"
    case encodePostJSON = "encode-post-json"
    case decodeSingle = "decode-single"
    case decodeMulti = "decode-multi"
    case decodeBase64 = "decode-base64"
    case route = "route"
    case encodeDecodeSingle = "encode-decode-single"
    case encodeDecodeMulti = "encode-decode-multi"
    case aliasPrimaryOnly = "alias-primary-only"
    case aliasWeighted = "alias-weighted"
    case aliasSticky = "alias-sticky"

    /// The benchmark name.
    package var title: String {
        switch self {
        case .baseline: "Baseline (empty loop: harness overhead)"
        case .encodeGetSingle: "Encode GET (10 headers, 3 query params), single-value"
        case .encodeGetMulti: "Encode GET (10 headers, 3 query params), multi-value"
        case .encodePostJSON: "Encode POST (4 KiB JSON body), single-value"
        case .decodeSingle: "Decode result (3 headers, 1 KiB body), single-value"
        case .decodeMulti: "Decode result (3 headers, 1 KiB body), multi-value"
        case .decodeBase64: "Decode result (1 KiB base64 body), single-value"
        case .route: "Route (20 rules, path/host/header, last matches)"
        case .encodeDecodeSingle: "Encode GET + decode result, single-value"
        case .encodeDecodeMulti: "Encode GET + decode result, multi-value"
        case .aliasPrimaryOnly: "Alias resolution, no weights (the floor)"
        case .aliasWeighted: "Alias resolution, 10 % weighted, independent draw"
        case .aliasSticky: "Alias resolution, 10 % weighted, sticky by header (key lookup + hash)"
        }
    }

    /// Runs the operation `count` times, handing every output to ``sink(_:)`` so the optimiser cannot drop the work.
    package func run(_ count: Int) {
        var random = SystemRandomNumberGenerator()
        switch self {
        case .baseline:
            for index in 0..<count { sink(index) }
        case .encodeGetSingle, .encodeGetMulti:
            let options = self == .encodeGetMulti ? Operations.multiValueOptions : Operations.singleValueOptions
            let head = Fixtures.browserGet
            for _ in 0..<count { sink(Operations.encode(head, body: nil, options: options, random: &random)) }
        case .encodePostJSON:
            let head = Fixtures.jsonPost
            let body = Fixtures.jsonPostBody
            for _ in 0..<count {
                sink(Operations.encode(head, body: body, options: Operations.singleValueOptions, random: &random))
            }
        case .decodeSingle, .decodeMulti:
            let multiValue = self == .decodeMulti
            let result = Fixtures.typicalResult(multiValue: multiValue)
            for _ in 0..<count { sink(Operations.decode(result, multiValue: multiValue, random: &random)) }
        case .decodeBase64:
            let result = Fixtures.base64Result
            for _ in 0..<count { sink(Operations.decode(result, multiValue: false, random: &random)) }
        case .route:
            let facts = RouterFixture.facts
            for _ in 0..<count { sink(Operations.route(facts)) }
        case .aliasPrimaryOnly, .aliasWeighted, .aliasSticky:
            let routing = AliasFixture.routing(for: self)
            let headers = Fixtures.browserGet.headers
            for _ in 0..<count {
                let key = routing.stickiness.flatMap {
                    AliasResolver.stickyKey($0, headers: headers, clientAddress: "203.0.113.10")
                }
                sink(AliasResolver.version(for: routing, stickyKey: key, salt: "checkout:live", random: &random))
            }
        case .encodeDecodeSingle, .encodeDecodeMulti:
            let multiValue = self == .encodeDecodeMulti
            let options = multiValue ? Operations.multiValueOptions : Operations.singleValueOptions
            let head = Fixtures.browserGet
            let result = Fixtures.typicalResult(multiValue: multiValue)
            for _ in 0..<count {
                sink(Operations.encode(head, body: nil, options: options, random: &random))
                sink(Operations.decode(result, multiValue: multiValue, random: &random))
            }
        }
    }
}

/// Takes a value and does nothing, opaquely: generic (so nothing is boxed or allocated) and never optimised, so
/// the work producing the value cannot be removed.
@inline(never)
@_optimize(none)
package func sink<Value>(_ value: Value) {}
