import Foundation
import StadtbusAMQP
import StadtbusTestSupport
import XCTest

/// The stream most scenarios send: N valid applications with a few schema-invalid ones mixed
/// in (the messages designed to fail), through a route that validates and delivers to a queue.
struct StreamScenario {
    let items: [StreamPublisher.Item]
    var ledger: Ledger

    /// A route from `portal` that validates and delivers to `destination`, with a retry policy
    /// generous enough to outlast the faults of the suite (transient failures never dead-letter).
    static func route(to destination: String = "eakte") -> String {
        """
          - name: antrag
            from: portal
            when: { message-type: "0401" }
            steps:
              - validate: { schema: xbeteiligung }
            to: [\(destination)]
            on-error: { retry: { attempts: 40, backoff: 500ms..3s }, dead-letter: dlq }
        """
    }

    /// `count` valid applications; every 50th message (at least 2) is schema-invalid.
    init(scenario: String, count: Int) {
        ledger = Ledger(scenario: scenario)
        let invalidEvery = max(count / max(count / 50, 2), 1)
        var items: [StreamPublisher.Item] = []
        for index in 0..<count {
            let uuid = UUID().uuidString.lowercased()
            items.append(StreamPublisher.Item(uuid: uuid, body: Applications.make(uuid: uuid)))
            ledger.expectDelivery(uuid)
            if index % invalidEvery == invalidEvery / 2 {
                let bad = UUID().uuidString.lowercased()
                items.append(StreamPublisher.Item(uuid: bad, body: Applications.invalid(uuid: bad)))
                ledger.expectDeadLetter(
                    bad, .init(step: "validate", reasonPrefix: "schema-invalid: ", reasonContains: "planname"))
            }
        }
        self.items = items
    }

    var validCount: Int { ledger.valid.count }
    var failingCount: Int { ledger.failing.count }
}
