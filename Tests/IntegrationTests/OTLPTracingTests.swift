import AlbatrossTestKit
import Foundation
import Testing
import Tracing

/// OpenTelemetry end to end: a real Python function with the real `opentelemetry-sdk` and OTLP/HTTP protobuf
/// exporter (from the project venv) continues the platform's trace through the X-Ray Lambda propagator (which
/// reads `_X_AMZN_TRACE_ID`, as AWS's OpenTelemetry layer does) and exports to `OTEL_EXPORTER_OTLP_ENDPOINT`;
/// its spans land in the stored trace under the platform's `Invocation`, under the Root the client sent, and
/// `albatross traces ID` draws them.
@Suite(.serialized)
struct OTLPTracingTests {
    static func otelFunction(in dir: TemporaryDirectory) throws {
        try dir.write(
            "otel/app.py",
            """
            import os
            from opentelemetry import trace
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.propagators.aws import AwsXRayLambdaPropagator
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
            from opentelemetry.trace import SpanKind, Status, StatusCode

            # The exporter reads OTEL_EXPORTER_OTLP_ENDPOINT (+ /v1/traces) and, for the gzip case,
            # OTEL_EXPORTER_OTLP_COMPRESSION from the function's environment.
            provider = TracerProvider(resource=Resource.create({"service.name": "otel-fn"}))
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
            trace.set_tracer_provider(provider)
            tracer = trace.get_tracer("albatross.test")

            def handler(event, context):
                parent = AwsXRayLambdaPropagator().extract({})
                with tracer.start_as_current_span("handle-order", context=parent, kind=SpanKind.SERVER) as span:
                    span.set_attribute("order.id", 42)
                    with tracer.start_as_current_span("load-order", kind=SpanKind.CLIENT):
                        pass
                    with tracer.start_as_current_span("charge-card") as failing:
                        try:
                            raise ValueError("card declined")
                        except ValueError as error:
                            failing.record_exception(error)
                            failing.set_status(Status(StatusCode.ERROR, "card declined"))
                # As the Lambda instrumentation does: export before the invoke ends (the environment may freeze).
                exported = provider.force_flush(5000)
                return {
                    "statusCode": 200,
                    "headers": {
                        "x-otlp": os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "-"),
                        "x-trace": os.environ.get("_X_AMZN_TRACE_ID", "-"),
                        "x-exported": str(exported),
                    },
                    "body": "ok",
                }
            """)
    }

    static func yaml(environment: String = "") -> String {
        FrontEndTests.yaml(
            functions:
                "  - {name: otel, runtime: python3.11, handler: app.handler, code: ./otel, timeout: 20, tracingConfig: {Mode: Active}\(environment)}",
            targetGroups: "  - {name: otel-tg, function: otel}",
            defaultAction: "{forward: otel-tg}") + "\ntracing: {samplingRate: 1.0}\n"
    }

    @Test(arguments: ["none", "gzip"])
    func functionSpansJoinThePlatformsTraceUnderInvocation(compression: String) async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Self.otelFunction(in: dir)
        let yaml = Self.yaml(environment: ", environment: {OTEL_EXPORTER_OTLP_COMPRESSION: \(compression)}")
        let config = try dir.write("c.yaml", yaml)
        let server = try await ServerHarness(yaml: yaml, baseDirectory: dir.path)
        let receiver = try #require(server.application.tracing?.receiver)
        let root = XRayTracingTests.newRoot()
        let response = try server.client().request(
            "GET", "/orders", headers: [("X-Amzn-Trace-Id", "Root=\(root)")], host: "127.0.0.1:\(server.port)")
        await server.shutdown()
        #expect(response.status == 200 && response.text == "ok", "\(response.status) \(response.text)")
        #expect(response.header("x-otlp") == receiver.endpoint && receiver.endpoint.hasPrefix("http://127.0.0.1:"))
        #expect(response.header("x-exported") == "True")
        let header = try #require(response.header("x-trace"))
        #expect(header.hasPrefix("Root=\(root);Parent=") && header.hasSuffix(";Sampled=1"), "\(header)")
        #expect(receiver.counts == OTLPReceiver.Counts(acceptedSpans: 3), "\(receiver.counts)")

        let directory = TraceStore.directory(dataDirectory: server.configuration.dataDirectory)
        #expect(TraceStore.traceFiles(in: directory).map(\.traceID) == [root])
        let lines = try #require(TraceStore.documents(traceID: root, in: directory))
        let tree = TraceTree(traceID: root, lines: lines)
        #expect(tree.roots.count == 1, "\(lines)")
        let function = try #require(tree.roots.first?.children.first)
        let invocation = try #require(function.children.first { $0.name == "Invocation" })
        #expect(invocation.id == header.split(separator: ";")[1].dropFirst("Parent=".count).description)
        let handled = try #require(invocation.children.first, "the function's span, under Invocation: \(lines)")
        #expect(handled.name == "handle-order" && invocation.children.count == 1)
        #expect(handled.children.map(\.name) == ["load-order", "charge-card"], "\(lines)")
        #expect(handled.children.map(\.fault) == [false, true])
        #expect(handled.start >= invocation.start && (handled.end ?? 0) <= (invocation.end ?? 0) + 0.001)
        #expect(lines.contains { $0.contains(#""span_name":"load-order""#) && $0.contains(#""namespace":"remote""#) })

        let drawn = try await AlbatrossCommand.run(["traces", root, "-c", config])
        #expect(drawn.status == 0, "\(drawn)")
        for name in ["      Invocation", "        handle-order", "          load-order", "          charge-card"] {
            #expect(drawn.stdout.contains(name), "\(drawn.stdout)")
        }
        #expect(drawn.stdout.contains("[fault]"), "\(drawn.stdout)")
    }

    @Test func theFunctionsOwnEndpointWins() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write(
            "otel/app.py",
            """
            import os
            def handler(event, context):
                return {"statusCode": 200, "body": os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "-")}
            """)
        let yaml = Self.yaml(environment: ", environment: {OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318'}")
        let server = try await ServerHarness(yaml: yaml, baseDirectory: dir.path)
        let response = try server.client().request("GET", "/", host: "127.0.0.1:\(server.port)")
        await server.shutdown()
        #expect(response.status == 200 && response.text == "http://collector:4318", "\(response.text)")
    }
}

/// The OTLP exporter end to end: a collector written in Python decodes what the exporter sends with the real
/// `opentelemetry-proto` classes (which come with the exporter package) and writes each span down; its first
/// answer is a 503, so the batch is retried. Every stored document of the trace, the platform's and the
/// function's, has to arrive with its ids, name, parent, times and status.
@Suite(.serialized)
struct OTLPExportTests {
    static let collector = """
        import http.server, json, sys
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest, ExportTraceServiceResponse)

        out, failures = sys.argv[1], int(sys.argv[2])
        seen = {"requests": 0}

        class Collector(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def answer(self, status, payload=b""):
                self.send_response(status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                seen["requests"] += 1
                if self.path != "/v1/traces" or self.headers["Content-Type"] != "application/x-protobuf":
                    return self.answer(400)
                if seen["requests"] <= failures:
                    return self.answer(503)
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                with open(out, "a") as f:
                    for resource_spans in request.resource_spans:
                        resource = {kv.key: kv.value.string_value for kv in resource_spans.resource.attributes}
                        for scope_spans in resource_spans.scope_spans:
                            for span in scope_spans.spans:
                                f.write(json.dumps({
                                    "trace": span.trace_id.hex(), "id": span.span_id.hex(),
                                    "parent": span.parent_span_id.hex(), "name": span.name, "kind": span.kind,
                                    "start": span.start_time_unix_nano, "end": span.end_time_unix_nano,
                                    "status": span.status.code, "message": span.status.message,
                                    "service": resource.get("service.name"),
                                }) + "\\n")
                self.answer(200, ExportTraceServiceResponse().SerializeToString())

            def log_message(self, *args):
                pass

        server = http.server.HTTPServer(("127.0.0.1", 0), Collector)
        print(server.server_address[1], flush=True)
        server.serve_forever()
        """

    struct CollectorDidNotStart: Error {}

    /// The collector as a child process; `port` once it listens.
    final class Collector {
        let process = Process()
        let port: Int
        let output: String

        init(in dir: TemporaryDirectory, failures: Int) throws {
            let script = try dir.write("collector.py", OTLPExportTests.collector)
            output = dir.url("spans.jsonl")
            process.executableURL = URL(fileURLWithPath: PackagePaths.venvPython)
            process.arguments = [script, output, String(failures)]
            let stdout = Pipe()
            process.standardOutput = stdout
            // Not the test's own stderr: a reader of the test's output would wait for the collector too.
            process.standardError = FileHandle(forWritingAtPath: "/dev/null")
            try process.run()
            var line = Data()
            let deadline = Date().addingTimeInterval(30)
            while !line.contains(10), Date() < deadline {
                let chunk = stdout.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                line.append(chunk)
            }
            guard let port = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
            else {
                process.terminate()
                throw CollectorDidNotStart()
            }
            self.port = port
        }

        func spans() throws -> [[String: Any]] {
            let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            return try text.split(separator: "\n").map {
                try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:]
            }
        }

        func stop() {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// Every document of a stored trace, nested subsegments included: id → (name, parent, start, end, failed).
    static func storedSpans(
        _ lines: [String]
    ) throws -> [String: (name: String, parent: String, start: Double, end: Double, failed: Bool)] {
        var result: [String: (name: String, parent: String, start: Double, end: Double, failed: Bool)] = [:]
        func walk(_ object: [String: Any], parent: String) {
            guard let id = object["id"] as? String else { return }
            var name = object["name"] as? String ?? ""
            if let metadata = object["metadata"] as? [String: Any], let otel = metadata["otel"] as? [String: Any],
                let spanName = otel["span_name"] as? String
            {
                name = spanName
            }
            result[id] = (
                name, object["parent_id"] as? String ?? parent, object["start_time"] as? Double ?? 0,
                object["end_time"] as? Double ?? 0, object["fault"] as? Bool == true || object["error"] as? Bool == true
            )
            for child in object["subsegments"] as? [[String: Any]] ?? [] { walk(child, parent: id) }
        }
        for line in lines {
            walk(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] ?? [:], parent: "")
        }
        return result
    }

    @Test func everyStoredSpanReachesTheCollectorAfterARetry() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try OTLPTracingTests.otelFunction(in: dir)
        let collector = try Collector(in: dir, failures: 1)
        defer { collector.stop() }
        let yaml =
            OTLPTracingTests.yaml()
            .replacingOccurrences(
                of: "tracing: {samplingRate: 1.0}",
                with: "tracing: {samplingRate: 1.0, export: {url: \"http://127.0.0.1:\(collector.port)\"}}")
            + "admin: {port: 0}\n"
        let server = try await ServerHarness(yaml: yaml, baseDirectory: dir.path)
        let tracing = try #require(server.application.tracing)
        let exporter = try #require(tracing.exporter)
        let root = XRayTracingTests.newRoot()
        let response = try server.client().request(
            "GET", "/orders", headers: [("X-Amzn-Trace-Id", "Root=\(root)")], host: "127.0.0.1:\(server.port)")
        #expect(response.status == 200, "\(response.status) \(response.text)")
        // The platform's segments are written once the runtime asks for its next event (Overhead's end).
        tracing.store.flush()
        let deadline = Date().addingTimeInterval(20)
        while exporter.counts.exported < 8, Date() < deadline { try await Task.sleep(for: .milliseconds(100)) }
        // What `GET /metrics` serves (the harness runs the listeners, not the admin service).
        let metrics = try #require(server.application.metrics?.exposition())
        await server.shutdown()

        let lines = try #require(
            TraceStore.documents(
                traceID: root, in: TraceStore.directory(dataDirectory: server.configuration.dataDirectory)))
        let stored = try Self.storedSpans(lines)
        // AWS::Lambda, AWS::Lambda::Function, Initialization, Invocation, Overhead, and the function's three.
        #expect(stored.count == 8, "\(lines)")
        let received = try collector.spans()
        #expect(received.count == stored.count, "\(received)")
        let traceHex = root.replacingOccurrences(of: "-", with: "").dropFirst()
        for span in received {
            let id = span["id"] as? String ?? ""
            guard let expected = stored[id] else {
                Issue.record("span \(id) was not stored: \(span)")
                continue
            }
            #expect(span["trace"] as? String == String(traceHex))
            #expect(span["name"] as? String == expected.name)
            #expect(span["parent"] as? String == expected.parent, "\(expected.name)")
            let start = (span["start"] as? NSNumber)?.uint64Value ?? 0
            let end = (span["end"] as? NSNumber)?.uint64Value ?? 0
            #expect(abs(Double(start) / 1e9 - expected.start) < 1e-6, "\(expected.name) start")
            #expect(abs(Double(end) / 1e9 - expected.end) < 1e-6, "\(expected.name) end")
            #expect((span["status"] as? Int == 2) == expected.failed, "\(expected.name) status")
        }
        let failing = received.first { $0["name"] as? String == "charge-card" }
        #expect(failing?["status"] as? Int == 2 && failing?["message"] as? String == "card declined")
        #expect(received.first { $0["name"] as? String == "Invocation" }?["service"] as? String == "otel")
        #expect(received.first { $0["name"] as? String == "handle-order" }?["kind"] as? Int == 2)
        let counts = exporter.counts
        #expect(counts.exported == 8 && counts.retries >= 1 && counts.droppedFailed == 0, "\(counts)")
        #expect(metrics.contains("albatross_trace_export_spans_total 8"), "\(metrics)")
        #expect(metrics.contains(#"albatross_otlp_received_spans_total{outcome="accepted"} 3"#))
        let (status, output) = try MetricsTests.promtool(metrics)
        #expect(status == 0, "\(output)")
    }
}
