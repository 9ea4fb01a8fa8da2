import ArgumentParser

/// `stadtbus` — the municipal service bus.
@main
struct Stadtbus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stadtbus",
        abstract: "Stadtbus — routes XÖV messages between municipal systems over RabbitMQ.",
        subcommands: [
            RunCommand.self, CheckCommand.self, DryRunCommand.self, TraceCommand.self, SignCommand.self,
            VerifyCommand.self, StatusCommand.self, DeadLetterCommand.self,
            AdaptersCommand.self,
        ])
}
