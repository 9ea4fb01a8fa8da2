import StadtbusConcurrency
import XCTest

/// The one-shot cell: the first value wins, every waiter gets it, a cancelled waiter leaves.
final class AsyncPromiseTests: XCTestCase {
    func testWaitersBeforeTheValueAllGetIt() async throws {
        let promise = AsyncPromise<Int>()
        let waiters = (0..<3).map { _ in Task { try await promise.wait() } }
        await waitUntil { promise.waiting == 3 }
        XCTAssertNil(promise.value)
        XCTAssertTrue(promise.fulfil(7))
        for waiter in waiters {
            let value = try await waiter.value
            XCTAssertEqual(value, 7)
        }
        XCTAssertEqual(promise.waiting, 0)
    }

    func testTheFirstValueWins() async throws {
        let promise = AsyncPromise<String>()
        XCTAssertTrue(promise.fulfil("confirmed"))
        XCTAssertFalse(promise.fulfil("timed out"))
        let value = try await promise.wait()
        XCTAssertEqual(value, "confirmed")
        let again = await promise.waitIgnoringCancellation()
        XCTAssertEqual(again, "confirmed")
    }

    func testAnOptionalValueOfNilIsAValue() async throws {
        let promise = AsyncPromise<String?>()
        XCTAssertTrue(promise.fulfil(nil))
        XCTAssertFalse(promise.fulfil("later"))
        let value = try await promise.wait()
        XCTAssertNil(value)
    }

    func testCancellingAWaiterThrowsAndLeavesTheOthers() async throws {
        let promise = AsyncPromise<Int>()
        let cancelled = Task { try await promise.wait() }
        let other = Task { try await promise.wait() }
        await waitUntil { promise.waiting == 2 }
        cancelled.cancel()
        do {
            _ = try await cancelled.value
            XCTFail("a cancelled waiter got a value")
        } catch {
            XCTAssertTrue(error is CancellationError, "\(error)")
        }
        XCTAssertEqual(promise.waiting, 1)
        promise.fulfil(1)
        let value = try await other.value
        XCTAssertEqual(value, 1)
    }

    func testATaskCancelledBeforeItWaitsStillGetsAValueThatIsThere() async throws {
        let promise = AsyncPromise<Int>()
        promise.fulfil(3)
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await promise.wait()
        }
        let value = try await task.value
        XCTAssertEqual(value, 3)
    }

    func testATaskCancelledBeforeItWaitsForAMissingValueThrows() async {
        let promise = AsyncPromise<Int>()
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await promise.wait()
        }
        do {
            _ = try await task.value
            XCTFail("a cancelled task got a value")
        } catch {
            XCTAssertTrue(error is CancellationError, "\(error)")
        }
        XCTAssertEqual(promise.waiting, 0)
    }

    func testWaitingIgnoringCancellationWaitsForTheValue() async {
        let promise = AsyncPromise<Int>()
        let waiter = Task { await promise.waitIgnoringCancellation() }
        await waitUntil { promise.waiting == 1 }
        waiter.cancel()
        XCTAssertEqual(promise.waiting, 1)
        promise.fulfil(5)
        let value = await waiter.value
        XCTAssertEqual(value, 5)
    }

    /// Racing fulfils from many tasks: exactly one wins and every waiter sees its value.
    func testExactlyOneOfManyConcurrentFulfilsWins() async {
        let promise = AsyncPromise<Int>()
        let waiters = (0..<20).map { _ in Task { await promise.waitIgnoringCancellation() } }
        let wins = await withTaskGroup(of: Bool.self) { group in
            for index in 0..<50 { group.addTask { promise.fulfil(index) } }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        XCTAssertEqual(wins, 1)
        let winner = promise.value
        for waiter in waiters {
            let value = await waiter.value
            XCTAssertEqual(value, winner)
        }
    }
}
