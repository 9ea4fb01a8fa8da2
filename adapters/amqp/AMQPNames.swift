import StadtbusAMQP

/// Length rules for the names an `amqp` endpoint configures, checked by `stadtbus check`.
///
/// AMQP carries queue and exchange names and routing keys as short strings of at most 255
/// bytes. A queue name leaves room for the retry queues Stadtbus derives from it
/// (`stadtbus.retry.<queue>.<delay>ms`): a name that fits the broker but not its retry queue
/// would fail every retry of a message from it, at run time, for good.
enum AMQPNames {
    /// The longest queue name: 255 bytes less the retry queue's prefix and delay suffix.
    static let maxQueue = 200

    /// `nil` when `name` fits in `limit` bytes of UTF-8, else why not.
    static func problem(_ name: String, limit: Int) -> String? {
        let size = name.utf8.count
        guard size > limit else { return nil }
        return "is \(size) bytes long; at most \(limit) bytes are allowed"
            + (limit == maxQueue
                ? " (AMQP allows 255, and Stadtbus derives retry queue names from it)" : " (an AMQP short string)")
    }
}
