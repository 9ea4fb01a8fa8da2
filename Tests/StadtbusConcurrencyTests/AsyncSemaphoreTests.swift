import StadtbusConcurrency
import Synchronization
import XCTest

/// The semaphore's guarantees: the limit holds, waiters are served in arrival order, a cancelled
/// waiter leaves without a permit and without losing one. Every wait here is on a condition (a
/// count reached, a task finished), never on a duration.
final class AsyncSemaphoreTests: XCTestCase {
    func testPermitsUpToTheLimitAreTakenWithoutWaiting() async throws {
        let semaphore = AsyncSemaphore(limit: 2)
        try await semaphore.acquire()
        try await semaphore.acquire()
        XCTAssertEqual(semaphore.held, 2)
        XCTAssertFalse(semaphore.tryAcquire())
        semaphore.release()
        XCTAssertTrue(semaphore.tryAcquire())
        semaphore.release()
        semaphore.release()
        XCTAssertEqual(semaphore.held, 0)
    }

    func testALimitBelowOneMeansOne() {
        XCTAssertEqual(AsyncSemaphore(limit: 0).limit, 1)
        XCTAssertEqual(AsyncSemaphore(limit: -3).limit, 1)
    }

    func testWaitersAreServedInArrivalOrder() async throws {
        let semaphore = AsyncSemaphore(limit: 1)
        try await semaphore.acquire()
        let order = Shared<[Int]>([])
        var tasks: [Task<Void, any Error>] = []
        for index in 0..<4 {
            tasks.append(
                Task {
                    try await semaphore.acquire()
                    order.withLock { $0.append(index) }
                    semaphore.release()
                })
            await waitUntil { semaphore.waiting == index + 1 }
        }
        semaphore.release()
        for task in tasks { try await task.value }
        XCTAssertEqual(order.withLock { $0 }, [0, 1, 2, 3])
        XCTAssertEqual(semaphore.held, 0)
    }

    func testANewcomerDoesNotOvertakeAWaiter() async throws {
        let semaphore = AsyncSemaphore(limit: 1)
        try await semaphore.acquire()
        let waiter = Task { try await semaphore.acquire() }
        await waitUntil { semaphore.waiting == 1 }
        semaphore.release()
        // The permit went to the waiter, not back to the pool.
        XCTAssertFalse(semaphore.tryAcquire())
        try await waiter.value
        XCTAssertEqual(semaphore.held, 1)
        semaphore.release()
    }

    func testCancellingAWaiterThrowsAndTakesNoPermit() async throws {
        let semaphore = AsyncSemaphore(limit: 1)
        try await semaphore.acquire()
        let cancelled = Task { try await semaphore.acquire() }
        let next = Task { try await semaphore.acquire() }
        await waitUntil { semaphore.waiting == 2 }
        cancelled.cancel()
        do {
            try await cancelled.value
            XCTFail("a cancelled waiter got a permit")
        } catch {
            XCTAssertTrue(error is CancellationError, "\(error)")
        }
        XCTAssertEqual(semaphore.waiting, 1)
        XCTAssertEqual(semaphore.held, 1)
        // The permit given back goes to the waiter behind the cancelled one: none was lost.
        semaphore.release()
        try await next.value
        XCTAssertEqual(semaphore.held, 1)
        XCTAssertEqual(semaphore.waiting, 0)
        semaphore.release()
        XCTAssertTrue(semaphore.tryAcquire())
    }

    func testATaskCancelledBeforeItWaitsDoesNotGetAPermit() async throws {
        let semaphore = AsyncSemaphore(limit: 1)
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await semaphore.acquire()
        }
        do {
            try await task.value
            XCTFail("a cancelled task got a permit")
        } catch {
            XCTAssertTrue(error is CancellationError, "\(error)")
        }
        XCTAssertEqual(semaphore.held, 0)
        XCTAssertEqual(semaphore.waiting, 0)
    }

    func testWaitingIgnoringCancellationStillGetsThePermit() async throws {
        let semaphore = AsyncSemaphore(limit: 1)
        try await semaphore.acquire()
        let waiter = Task { await semaphore.acquireIgnoringCancellation() }
        await waitUntil { semaphore.waiting == 1 }
        waiter.cancel()
        XCTAssertEqual(semaphore.waiting, 1, "the wait ended with the cancellation")
        semaphore.release()
        await waiter.value
        XCTAssertEqual(semaphore.held, 1)
        semaphore.release()
    }

    func testRaisingTheLimitAdmitsWaitersAndLoweringItTakesNothingAway() async throws {
        let semaphore = AsyncSemaphore(limit: 1)
        try await semaphore.acquire()
        let waiters = (0..<2).map { _ in Task { try await semaphore.acquire() } }
        await waitUntil { semaphore.waiting == 2 }
        semaphore.setLimit(3)
        for waiter in waiters { try await waiter.value }
        XCTAssertEqual(semaphore.held, 3)
        semaphore.setLimit(1)
        XCTAssertEqual(semaphore.held, 3)
        let late = Task { try await semaphore.acquire() }
        await waitUntil { semaphore.waiting == 1 }
        semaphore.release()
        semaphore.release()
        XCTAssertEqual(semaphore.waiting, 1, "admitted while as many as the new limit were held")
        semaphore.release()
        try await late.value
        XCTAssertEqual(semaphore.held, 1)
        semaphore.release()
    }

    func testWithPermitReleasesWhenTheBodyThrows() async {
        struct Failure: Error {}
        let semaphore = AsyncSemaphore(limit: 1)
        do {
            try await semaphore.withPermitIgnoringCancellation { () throws(Failure) in
                XCTAssertEqual(semaphore.held, 1)
                throw Failure()
            }
            XCTFail("the body's error was lost")
        } catch {}
        XCTAssertEqual(semaphore.held, 0)
    }

    /// Many tasks at once never hold more than the limit.
    func testTheLimitHoldsUnderContention() async throws {
        let semaphore = AsyncSemaphore(limit: 3)
        let inside = Shared((now: 0, most: 0))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<200 {
                group.addTask {
                    try await semaphore.acquire()
                    inside.withLock {
                        $0.now += 1
                        $0.most = max($0.most, $0.now)
                    }
                    await Task.yield()
                    inside.withLock { $0.now -= 1 }
                    semaphore.release()
                }
            }
            try await group.waitForAll()
        }
        XCTAssertLessThanOrEqual(inside.withLock { $0.most }, 3)
        XCTAssertEqual(semaphore.held, 0)
        XCTAssertEqual(semaphore.waiting, 0)
    }
}

/// A value behind a mutex that escaping closures can capture (a `Mutex` itself cannot be
/// captured by a `@Sendable` closure).
final class Shared<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<T: Sendable>(_ body: (inout Value) -> T) -> T { mutex.withLock { body(&$0) } }
}

/// Yields until `condition` holds (the other tasks run meanwhile); no duration is involved.
func waitUntil(_ condition: () -> Bool) async {
    while !condition() { await Task.yield() }
}
