/// Completion of the deliveries on one incarnation of one consumer channel, and the acks that follow
/// from it (owned by the connection thread; a pure value, unit-tested without a broker).
///
/// The broker numbers the deliveries of a channel 1, 2, 3, … without gaps. Consumers complete them in
/// any order; the tracker remembers which are complete and, once per turn of the connection loop,
/// ``flush(everything:)`` says what to send:
/// - one cumulative ack (`multiple = true`) for the highest tag up to which every delivery is settled —
///   the deliveries completed in order cost one frame together;
/// - individual acks for completed deliveries behind a gap (an earlier delivery still in progress), but
///   only when `holdLimit` of them have piled up or `everything` is asked for (channel or connection
///   closing): one slow message must not keep the prefetch credit of all later ones.
/// Nacks and rejects are sent individually at once; the tracker only notes them, so that a later
/// cumulative ack may reach over them (the broker acks only what is still unacknowledged) and a second
/// settlement of the same delivery is dropped instead of closing the channel (406 unknown delivery tag).
struct AckTracker {
    enum State: UInt8 {
        /// Delivered, not settled by the consumer yet.
        case open
        /// Completed by the consumer (ack), not sent to the broker yet.
        case ackPending
        /// Settled at the broker already (an individual ack, nack or reject was sent).
        case sent
    }

    /// What to send at the end of a turn.
    struct Flush: Equatable {
        /// Send `basic.ack(tag, multiple: true)`.
        var cumulative: UInt64?
        /// Send `basic.ack(tag, multiple: false)` for each, in order.
        var individual: [UInt64] = []
        /// Completed deliveries the cumulative ack settles (nacked ones it reaches over do not count).
        var coveredByCumulative = 0

        var isEmpty: Bool { cumulative == nil && individual.isEmpty }
    }

    /// The consumer channel incarnation these tags belong to.
    let epoch: UInt64
    /// How many completed deliveries may wait behind a gap before they are acked one by one.
    let holdLimit: Int
    /// Every tag up to and including `settledThrough` is settled at the broker (or covered by an ack
    /// that ``flush(everything:)`` returned).
    private(set) var settledThrough: UInt64 = 0
    /// `states[head + i]` is the state of tag `settledThrough + 1 + i`.
    private var states: [State] = []
    private var head = 0
    /// Deliveries in state `ackPending`.
    private(set) var pending = 0

    init(epoch: UInt64, holdLimit: Int) {
        self.epoch = epoch
        self.holdLimit = max(1, holdLimit)
    }

    /// Records that the consumer acked `tag`. Returns false (and changes nothing) when the delivery was
    /// settled before.
    mutating func complete(_ tag: UInt64) -> Bool {
        guard let index = index(of: tag), states[index] == .open else { return false }
        states[index] = .ackPending
        pending += 1
        return true
    }

    /// Records that a nack or reject for `tag` is being sent now. Returns false (and changes nothing)
    /// when the delivery was settled before; then nothing must be sent.
    mutating func settleIndividually(_ tag: UInt64) -> Bool {
        guard let index = index(of: tag) else { return false }
        switch states[index] {
        case .open:
            states[index] = .sent
            return true
        case .ackPending, .sent:
            return false
        }
    }

    /// Whether something is waiting to be sent.
    var hasPending: Bool { pending > 0 }

    /// Moves the settled front forward and says which acks to send; the tracker assumes they are sent.
    /// - Parameter everything: also ack completed deliveries behind a gap (before closing).
    mutating func flush(everything: Bool = false) -> Flush {
        var result = Flush()
        while head < states.count, states[head] != .open {
            settledThrough += 1
            if states[head] == .ackPending {
                result.cumulative = settledThrough
                result.coveredByCumulative += 1
                pending -= 1
            }
            head += 1
        }
        if pending > 0, everything || pending >= holdLimit {
            for index in head..<states.count where states[index] == .ackPending {
                states[index] = .sent
                result.individual.append(settledThrough + 1 + UInt64(index - head))
            }
            pending = 0
        }
        if head > 1024, head * 2 > states.count {
            states.removeFirst(head)
            head = 0
        }
        return result
    }

    /// The index of `tag` in `states`, growing it with open deliveries up to `tag`; nil for a tag
    /// settled before.
    private mutating func index(of tag: UInt64) -> Int? {
        guard tag > settledThrough else { return nil }
        let offset = Int(clamping: tag - settledThrough - 1)
        let index = head + offset
        if index >= states.count {
            // A tag far beyond what a prefetch allows would be a broker bug; do not allocate for it.
            guard offset < 1 << 20 else { return nil }
            states.append(contentsOf: repeatElement(.open, count: index - states.count + 1))
        }
        return index
    }
}
