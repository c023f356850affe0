import ArgumentParser

/// The `albatross` command line.
@main
struct Albatross: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "albatross",
        abstract: "AWS Lambda functions behind an Application Load Balancer, on one machine.",
        subcommands: [
            Serve.self, Invoke.self, Cert.self, Functions.self, Versions.self, Publish.self, Alias.self,
            Layers.self, Logs.self, Status.self, Traces.self, BenchCommand.self, RolloutCommand.self,
            WeightsCommand.self,
        ])
}
