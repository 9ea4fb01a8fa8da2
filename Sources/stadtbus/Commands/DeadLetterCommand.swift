import ArgumentParser
import Foundation
import StadtbusAMQP
import StadtbusConfig
import StadtbusCore
import StadtbusRuntime
import StadtbusStandard
import StadtbusXML

/// `stadtbus dlq list|show|replay`: inspect and re-inject dead-lettered messages.
struct DeadLetterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq",
        abstract: "Inspect and replay dead-lettered messages.",
        subcommands: [List.self, Show.self, Replay.self])

    struct Options: ParsableArguments {
        @Option(name: .long, help: "The configuration file (YAML); names the broker and the dead-letter endpoints.")
        var config: String

        @Option(name: .long, help: "A dead-letter queue to use instead of those the configuration names.")
        var queue: String?
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List dead letters: number, message, route, step, reason.")
        @OptionGroup var options: Options

        func run() async throws {
            try await DeadLetterBrowser.with(options) { browser in
                let letters = try await browser.fetch()
                if letters.isEmpty { print("no dead letters in \(browser.queues.joined(separator: ", "))") }
                for (index, letter) in letters.enumerated() {
                    print(
                        "\(index + 1)\t\(letter.queue)\t\(letter.messageID)\t\(letter.route)\t\(letter.step)\t\(letter.reason.prefix(160))"
                    )
                }
                try await browser.release(letters)
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one dead letter: its headers and body.")
        @OptionGroup var options: Options
        @Argument(help: "The number from 'dlq list'.") var number: Int

        func run() async throws {
            try await DeadLetterBrowser.with(options) { browser in
                let letters = try await browser.fetch()
                defer { Task { try? await browser.release(letters) } }
                guard letters.indices.contains(number - 1) else {
                    throw ValidationError("there are \(letters.count) dead letters; \(number) is not one of them")
                }
                let letter = letters[number - 1]
                print("queue: \(letter.queue)\nmessage: \(letter.messageID)")
                for (key, value) in letter.delivery.headers.sorted(by: { $0.key < $1.key }) {
                    print("\(key): \(value)")
                }
                print("")
                print(String(decoding: letter.delivery.body, as: UTF8.self))
                try await browser.release(letters)
            }
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send dead letters back to the source queue of their route, to go through it again.",
            discussion: """
                A dead letter is replayed only into the queue its route (x-stadtbus-route) reads \
                from in the configuration, so it passes every step of the route again, verify \
                included. A letter without a known route, or whose x-stadtbus-original-queue is \
                not that route's source, is refused with the reason and stays in the dead-letter queue.
                """)
        @OptionGroup var options: Options
        @Argument(help: "Numbers from 'dlq list' (none: use --all).") var numbers: [Int] = []
        @Flag(name: .long, help: "Replay every dead letter.") var all = false

        func validate() throws {
            if numbers.isEmpty != all { throw ValidationError("give the numbers to replay, or --all") }
        }

        func run() async throws {
            try await DeadLetterBrowser.with(options) { browser in
                let letters = try await browser.fetch()
                for number in numbers where !letters.indices.contains(number - 1) {
                    print("\(number): there are \(letters.count) dead letters; \(number) is not one of them")
                }
                let chosen = all ? Set(letters.indices) : Set(numbers.map { $0 - 1 }.filter(letters.indices.contains))
                var replayed = 0
                var refused = 0
                for (index, letter) in letters.enumerated() where chosen.contains(index) {
                    let target: String
                    switch ReplayTarget.resolve(
                        route: letter.routeHeader, originalQueue: letter.originalQueue, in: browser.table)
                    {
                    case .success(let queue):
                        target = queue
                    case .failure(let refusal):
                        // Back into the dead-letter queue, unchanged: nothing is lost by a refusal.
                        try await letter.delivery.nack(requeue: true)
                        refused += 1
                        print("\(index + 1): \(letter.messageID) refused: \(refusal); left in \(letter.queue)")
                        continue
                    }
                    var message = AMQPOutgoingMessage(letter.delivery)
                    for header in [AMQPHeaderName.attempt, AMQPHeaderName.errorReason, AMQPHeaderName.errorStep] {
                        message.properties.headers[header] = nil
                    }
                    message.properties.headers["x-stadtbus-replayed-at"] = .timestamp(Date())
                    // Confirmed in the source queue first, then removed from the dead-letter queue.
                    try await browser.connection.publisher().publish(message, exchange: "", routingKey: target)
                    try await letter.delivery.ack()
                    replayed += 1
                    print("\(index + 1): \(letter.messageID) → \(target)")
                }
                try await browser.release(letters.enumerated().filter { !chosen.contains($0.offset) }.map(\.element))
                print(
                    "replayed \(replayed) of \(letters.count) dead letters"
                        + (refused > 0 ? "; refused \(refused)" : ""))
                if refused > 0 { throw ExitCode(1) }
            }
        }
    }
}

/// Reads dead letters without losing them: every message fetched is either acked after its
/// replay was confirmed or returned to its queue.
struct DeadLetterBrowser {
    struct Letter {
        let queue: String
        let delivery: AMQPDelivery
        let messageID: String
        var route: String { delivery.headers[AMQPHeaderName.route]?.description ?? "-" }
        /// The route header as written by Stadtbus (a string), else `nil`.
        var routeHeader: String? { delivery.headers[AMQPHeaderName.route]?.stringValue }
        var step: String { delivery.headers[AMQPHeaderName.errorStep]?.description ?? "-" }
        var reason: String { delivery.headers[AMQPHeaderName.errorReason]?.description ?? "-" }
        var originalQueue: String? { delivery.headers[AMQPHeaderName.originalQueue]?.stringValue }
    }

    let connection: AMQPConnection
    let queues: [String]
    let extractor: HeaderExtractor
    /// The loaded configuration's routes and endpoints (replay targets are looked up here).
    let table: RoutingTable

    static func with(_ options: DeadLetterCommand.Options, _ body: (DeadLetterBrowser) async throws -> Void)
        async throws
    {
        let loaded: LoadedConfiguration
        do {
            loaded = try StandardLoader.make().load(path: options.config)
        } catch let error as ConfigurationError {
            FileHandle.standardError.write(Data((error.description + "\n").utf8))
            throw ExitCode(2)
        }
        guard let broker = loaded.settings.broker else {
            throw ValidationError("\(options.config) has no 'broker:' section")
        }
        let table = loaded.table
        var queues: [String] = []
        if let queue = options.queue {
            queues = [queue]
        } else {
            let names = Set(
                table.routes.compactMap(\.errorPolicy.deadLetter) + [table.defaultDeadLetter].compactMap { $0 })
            queues =
                names.sorted().compactMap { table.endpoints[$0]?.settings["queue"]?.string } + ["stadtbus.dead-letters"]
        }
        let connection = try await AMQPConnection.connect(try BrokerEndpoint.make(from: broker, name: "stadtbus-dlq"))
        let browser = DeadLetterBrowser(
            connection: connection, queues: Array(Set(queues)).sorted(), extractor: table.headerExtractor, table: table)
        do {
            try await body(browser)
        } catch {
            await connection.close()
            throw error
        }
        await connection.close()
    }

    /// Every message currently in the dead-letter queues (held unacked until released).
    func fetch() async throws -> [Letter] {
        var letters: [Letter] = []
        for queue in queues {
            let consumer: AMQPConsumer
            do { consumer = try await connection.consume(queue: queue, prefetch: 1000) } catch { continue }
            for delivery in await DeliveryDrain.take(from: consumer, idle: .milliseconds(500)) {
                let messageID =
                    (try? extractor.header(of: XMLDocument(parsing: delivery.body)).messageID) ?? "(no header)"
                letters.append(Letter(queue: queue, delivery: delivery, messageID: messageID))
            }
        }
        return letters
    }

    /// Returns letters that were not replayed to their queue.
    func release(_ letters: [Letter]) async throws {
        for letter in letters { try? await letter.delivery.nack(requeue: true) }
    }
}
