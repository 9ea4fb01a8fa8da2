import Dispatch
import Foundation
import StadtbusXML
import Synchronization
import XCTest

/// Issue 12 items 2 and 5: message work runs on threads of its own, so a parse that takes long
/// does not hold the cooperative pool that serves `/health`; large documents are processed a
/// bounded number at a time. Everything here waits on conditions, never on durations.
final class MessageWorkIsolationTests: XCTestCase {
    /// Parsing under the executor preference runs on the executor's threads, not the pool's.
    func testParsingUnderThePreferenceRunsOnTheDedicatedThreads() async throws {
        let executor = XMLWorkExecutor.shared
        let before = await Probe.onExecutorThread(executor)
        XCTAssertFalse(before)
        let (onExecutor, root) = try await withTaskExecutorPreference(executor) {
            try await Probe.parseAndReport(executor, Array("<antrag><a/></antrag>".utf8))
        }
        XCTAssertTrue(onExecutor, "the parse ran on a thread of the cooperative pool")
        XCTAssertEqual(root, "antrag")
    }

    /// Every thread of the executor blocked in a "parse" (held on a gate) leaves the cooperative
    /// pool free: a task on the global executor — what Hummingbird runs `/health` on — completes
    /// while they are held. With the work on the pool itself, as before, that task could not run.
    func testBlockedMessageWorkLeavesTheCooperativePoolFree() async throws {
        let executor = XMLWorkExecutor(name: "test-blocked-work", threads: 3)
        let release = DispatchSemaphore(value: 0)
        let started = DispatchSemaphore(value: 0)
        let blockers = ProcessInfo.processInfo.activeProcessorCount + 1
        let work = Task {
            await withTaskGroup(of: Bool.self) { group in
                for _ in 0..<max(3, blockers) {
                    group.addTask {
                        await withTaskExecutorPreference(executor) {
                            await Probe.blockLikeALongParse(executor, started: started, release: release)
                        }
                    }
                }
                return await group.reduce(true) { $0 && $1 }
            }
        }
        // Wait (off the pool) until all three executor threads are held.
        await Probe.waitOffPool(started, count: 3)
        // The global executor still runs new work: this is what answers /health.
        let health = await Task.detached { "ok" }.value
        XCTAssertEqual(health, "ok")
        for _ in 0..<max(3, blockers) { release.signal() }
        let allOnExecutor = await work.value
        XCTAssertTrue(allOnExecutor)
    }

    /// A third large document waits until one of the two running is done; small ones pass.
    func testLargeDocumentsAreAdmittedTwoAtATime() async throws {
        let gate = LargeDocumentGate()
        let limits = XMLParseLimits(largeDocumentBytes: 1024, maxLargeDocumentsAtOnce: 2)
        let inside = DispatchSemaphore(value: 0)
        let release = [DispatchSemaphore(value: 0), DispatchSemaphore(value: 0), DispatchSemaphore(value: 0)]
        let admitted = Admitted()
        var tasks: [Task<Void, Never>] = []
        for index in 0..<3 {
            tasks.append(
                Task.detached {
                    await gate.withAdmission(forDocumentOf: 2048, limits: limits) {
                        admitted.withLock { $0.append(index) }
                        inside.signal()
                        await Probe.waitOffPool(release[index], count: 1)
                    }
                })
            // Let each one reach the gate before the next starts, so the order is known.
            while gate.running + gate.waiting < index + 1 { await Task.yield() }
        }
        await Probe.waitOffPool(inside, count: 2)
        XCTAssertEqual(gate.running, 2)
        XCTAssertEqual(gate.waiting, 1)
        // The first two are admitted at once; which of them reaches its body first is up to the scheduler.
        XCTAssertEqual(Set(admitted.withLock { $0 }), [0, 1])
        // A small document is not held up by the queue of large ones.
        let small = await gate.withAdmission(forDocumentOf: 1024, limits: limits) { "passed" }
        XCTAssertEqual(small, "passed")
        release[1].signal()
        await Probe.waitOffPool(inside, count: 1)
        let all = admitted.withLock { $0 }
        XCTAssertEqual(Set(all), [0, 1, 2])
        XCTAssertEqual(all.last, 2, "the third large document ran only after one of the first two was done")
        XCTAssertEqual(gate.waiting, 0)
        release[0].signal()
        release[2].signal()
        for task in tasks { await task.value }
        XCTAssertEqual(gate.running, 0)
    }
}

/// The order in which documents entered the gate (a class, so escaping task closures can share it).
private final class Admitted: Sendable {
    private let order = Mutex<[Int]>([])
    func withLock<T: Sendable>(_ body: (inout [Int]) -> T) -> T { order.withLock { body(&$0) } }
}

/// Nonisolated async helpers: calling one hops to the task's preferred executor.
private enum Probe {
    static func onExecutorThread(_ executor: XMLWorkExecutor) async -> Bool { executor.isCurrentThread }

    static func parseAndReport(_ executor: XMLWorkExecutor, _ bytes: [UInt8]) async throws -> (Bool, String?) {
        let document = try XMLDocument(parsing: bytes)
        return (executor.isCurrentThread, document.rootName)
    }

    /// Holds the thread like a parse of many seconds would, until released.
    static func blockLikeALongParse(_ executor: XMLWorkExecutor, started: DispatchSemaphore, release: DispatchSemaphore)
        async -> Bool
    {
        let onExecutor = executor.isCurrentThread
        started.signal()
        release.wait()
        return onExecutor
    }

    /// Waits for `count` signals on a thread of its own, so the waiting holds no pool thread.
    static func waitOffPool(_ semaphore: DispatchSemaphore, count: Int) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            Thread.detachNewThread {
                for _ in 0..<count { semaphore.wait() }
                continuation.resume()
            }
        }
    }
}
