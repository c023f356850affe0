import AlbatrossTestKit
import Configuration
import Foundation
import Routing
import Testing

/// `access_logs.s3.*`: a local directory stands in for the bucket.
struct AccessLogConfigurationTests {
    static func parse(_ attributes: String, base: String = "/srv/app") throws -> LoadBalancerAttributes {
        let yaml = "loadBalancer:\n  attributes:\n" + attributes
        return try ConfigurationLoader.parse(yaml: yaml, file: "a.yaml", baseDirectory: base).loadBalancerAttributes
    }

    @Test func enabledWithADirectoryAndAPrefix() throws {
        let attributes = try Self.parse(
            """
                access_logs.s3.enabled: "true"
                access_logs.s3.bucket: ./alb-logs
                access_logs.s3.prefix: team/dev
            """)
        #expect(attributes.accessLogsEnabled)
        #expect(attributes.accessLogsDirectory == "/srv/app/alb-logs")
        #expect(attributes.accessLogsPrefix == "team/dev")
    }

    @Test func offByDefault() throws {
        let attributes = try Self.parse("    idle_timeout.timeout_seconds: 60\n")
        #expect(!attributes.accessLogsEnabled && attributes.accessLogsDirectory == nil)
        #expect(attributes.accessLogsPrefix == nil)
    }

    @Test(arguments: [
        ("    access_logs.s3.enabled: true\n", "access_logs.s3.bucket (a local directory) is not set"),
        ("    access_logs.s3.bucket: /tmp/x\n    access_logs.s3.prefix: a/AWSLogs\n", "must not contain \"AWSLogs\""),
        ("    access_logs.s3.bucket: /tmp/x\n    access_logs.s3.prefix: a/../b\n", "segments"),
        ("    access_logs.s3.bucket: /tmp/x\n    access_logs.s3.prefix: /a\n", "segments"),
    ])
    func refused(attributes: String, message: String) {
        #expect {
            _ = try Self.parse(attributes)
        } throws: { error in
            "\(error)".contains(message)
        }
    }
}
