import Dispatch
import Foundation
import Synchronization

/// A task executor with threads of its own, for the CPU-heavy work on messages: parsing,
/// validation, mapping, signing.
///
/// Hummingbird 2 runs every route handler — `/health`, `/ready`, `/metrics` and http-in — as a
/// child task on Swift's global concurrent executor, whose cooperative pool has one thread per
/// core (two on the production machines). A message that keeps libxml2 busy for seconds on that
/// pool stops the health check from being answered. Work started under
/// `withTaskExecutorPreference(XMLWorkExecutor.shared)` runs on these threads instead; the
/// cooperative pool stays free for HTTP and the broker connections. Waiting (for a broker
/// confirm, a store commit) suspends the task and holds no thread.
public final class XMLWorkExecutor: TaskExecutor, Sendable {
    /// The executor used for message processing: one thread per core, at least two.
    public static let shared = XMLWorkExecutor(
        name: "stadtbus-message-work", threads: max(2, ProcessInfo.processInfo.activeProcessorCount))

    /// The prefix of the names of this executor's threads.
    public let name: String
    /// How many threads run jobs.
    public let threadCount: Int

    private let jobs = Mutex(JobQueue())
    /// The threads' identities, for ``isCurrentThread``.
    private let threads = Mutex<[pthread_t]>([])
    /// Counts queued jobs; a thread waits on it when there is nothing to do.
    private let available = DispatchSemaphore(value: 0)

    /// Starts `threads` threads named `name-1` … `name-N` (8 MiB stack each: libxslt recurses)
    /// and returns once they run. They run for the life of the process.
    public init(name: String, threads count: Int) {
        self.name = name
        self.threadCount = max(1, count)
        let running = DispatchSemaphore(value: 0)
        for index in 1...threadCount {
            let threadName = "\(name)-\(index)"
            let thread = Thread { [self] in
                // Named from inside: on Linux a name set before `start()` does not reach the thread.
                Thread.current.name = threadName
                self.threads.withLock { $0.append(pthread_self()) }
                running.signal()
                self.runJobs()
            }
            thread.stackSize = 8 * 1024 * 1024
            thread.start()
        }
        for _ in 1...threadCount { running.wait() }
    }

    /// Whether the calling code runs on one of this executor's threads.
    public var isCurrentThread: Bool {
        let current = pthread_self()
        return threads.withLock { $0.contains { pthread_equal($0, current) != 0 } }
    }

    /// Queues `job` for the next free thread.
    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        jobs.withLock { $0.append(job) }
        available.signal()
    }

    private func runJobs() {
        while true {
            available.wait()
            guard let job = jobs.withLock({ $0.removeFirst() }) else { continue }
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}

/// A first-in first-out queue of jobs (amortised O(1) at both ends).
private struct JobQueue: ~Copyable {
    private var items: [UnownedJob] = []
    private var head = 0

    mutating func append(_ job: UnownedJob) { items.append(job) }

    mutating func removeFirst() -> UnownedJob? {
        guard head < items.count else { return nil }
        let job = items[head]
        head += 1
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 1024, head * 2 >= items.count {
            items.removeFirst(head)
            head = 0
        }
        return job
    }
}
