internal import CXMLShim
import StadtbusConcurrency

/// Bounds how many large documents are processed at the same time, process-wide.
///
/// A parsed tree takes several times the document's size; four 16 MB documents in parallel
/// raised the resident memory to 1.9 GB. Documents over ``XMLParseLimits/largeDocumentBytes``
/// pass this gate at most ``XMLParseLimits/maxLargeDocumentsAtOnce`` at a time; the others wait
/// in arrival order, suspended (no thread is held). After a large document is done, the memory
/// glibc kept for it is handed back to the system. Smaller documents pass at once.
public final class LargeDocumentGate: Sendable {
    /// The gate shared by every source of the process (queue consumers, http-in, files).
    public static let shared = LargeDocumentGate()

    /// One permit per large document in `body`; the limit follows the caller's `limits` (a
    /// reloaded configuration may change it).
    private let slots = AsyncSemaphore(limit: XMLParseLimits().maxLargeDocumentsAtOnce)

    /// Creates a gate (tests make their own; sources use ``shared``).
    public init() {}

    /// How many large documents are being processed now.
    public var running: Int { slots.held }
    /// How many large documents wait for their turn.
    public var waiting: Int { slots.waiting }

    /// Runs `body` for a document of `bytes` bytes: at once if it is not large under `limits`,
    /// else once fewer than `limits.maxLargeDocumentsAtOnce` large documents are in `body`.
    /// Waiting is not cancelled with the task (the document is processed when its turn comes).
    public func withAdmission<T, Failure: Error>(
        forDocumentOf bytes: Int, limits: XMLParseLimits, isolation: isolated (any Actor)? = #isolation,
        _ body: () async throws(Failure) -> T
    ) async throws(Failure) -> T {
        guard bytes > limits.largeDocumentBytes else { return try await body() }
        let limit = max(1, limits.maxLargeDocumentsAtOnce)
        if slots.limit != limit { slots.setLimit(limit) }
        await slots.acquireIgnoringCancellation()
        defer {
            slots.release()
            stadtbus_release_free_memory()
        }
        return try await body()
    }
}
