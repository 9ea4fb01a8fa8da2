import ArgumentParser
import StadtbusAdapters
import StadtbusCore

/// `stadtbus adapters [TYPE]` — the adapter types of this build and the settings each accepts.
struct AdaptersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "adapters",
        abstract: "List the adapter types of this build, or the settings of one of them.")

    @Argument(help: "An adapter type (e.g. http-out) to show its settings.")
    var type: String?

    func run() throws {
        let registry = StandardAdapters.registry
        guard let name = type else {
            for (name, adapter) in registry.adapters.sorted(by: { $0.key < $1.key }) {
                let directions = [adapter.type.canReceive ? "from" : nil, adapter.type.canSend ? "to" : nil].compactMap
                { $0 }
                print(
                    "\(name.padding(toLength: 10, withPad: " ", startingAt: 0)) \(directions.joined(separator: "/").padding(toLength: 8, withPad: " ", startingAt: 0)) \(adapter.type.summary)"
                )
            }
            return
        }
        guard let adapter = registry[name] else {
            throw ValidationError(
                "unknown adapter type '\(name)'; this build has: \(registry.adapters.keys.sorted().joined(separator: ", "))"
            )
        }
        print("\(name): \(adapter.type.summary)")
        for field in adapter.type.settings.fields {
            var line = "  \(field.name): \(field.type)"
            if field.required { line += " (required)" }
            if let value = field.defaultValue { line += " [default \(value)]" }
            if !field.help.isEmpty { line += " — \(field.help)" }
            print(line)
        }
        for group in adapter.type.settings.exactlyOneOf {
            print("  exactly one of: \(group.joined(separator: ", "))")
        }
    }
}
