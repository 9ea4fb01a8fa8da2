import Foundation
import StadtbusAdapterKit
import Synchronization

/// Settles one file the `file` source read, for ``SourcePump``:
/// - complete → moved to `done/` (unless a retry or dead letter already decided its place);
/// - retry → left in the folder, read again as the next attempt once the delay has passed;
/// - dead letter → `failed/<name>.reason.txt` written (route, step, reason, attempt, time),
///   then the file moved to `failed/`; the route's `on-error` endpoint is not used, the folder
///   is the file's dead-letter place;
/// - give back → left in the folder as it is, read again on a later poll.
///
/// A move that fails (done/ blocked, permissions) does not make settling fail: the outcome is
/// decided, the file is remembered as settled and moved on a later poll (see ``FileInbox``).
final class FileSettlement: Settlement {
    /// What became of the file so far.
    enum Place: Equatable, Sendable {
        /// Still in the folder, nothing decided.
        case inbox
        /// Left in the folder for a later attempt.
        case retrying
        /// Set aside in `failed/` (or remembered to go there).
        case failed
        /// Moved to `done/` (or remembered to go there).
        case done
    }

    let inbox: FileInbox
    let file: URL
    private let place = Mutex(Place.inbox)

    init(inbox: FileInbox, file: URL) {
        self.inbox = inbox
        self.file = file
    }

    /// Where the file is now.
    var current: Place { place.withLock { $0 } }

    func complete() async throws {
        let decided = place.withLock { place -> Bool in
            guard place == .inbox else { return true }
            place = .done
            return false
        }
        if !decided { inbox.move(file, to: "done") }
    }

    func retry(_ request: RetryRequest) async throws {
        inbox.scheduleRetry(file.lastPathComponent, attempt: request.attempt, after: request.delay)
        place.withLock { $0 = .retrying }
    }

    func deadLetter(_ letter: DeadLetterRequest) async throws {
        let note = """
            route: \(letter.route ?? "unrouted")
            step: \(letter.step)
            reason: \(letter.reason)
            attempt: \(letter.attempt)
            at: \(Date().formatted(.iso8601))

            """
        try inbox.writeReason(note, for: file.lastPathComponent)
        inbox.move(file, to: "failed")
        place.withLock { $0 = .failed }
    }

    func giveBack() async {}

    var defaultDeadLetterDestination: String { "failed/" }

    func destination(of letter: DeadLetterRequest) -> String { "failed/" }
}
