import Foundation
import Logging
import ServiceLifecycle
import StadtbusConfig
import StadtbusCore
import StadtbusStore

/// The stores the engine writes — idempotency records, the audit journal and the case
/// registry — opened when the runtime is built (one SQLite file may hold several of them; each
/// path is opened once). As a service it purges expired records now and then, and closes the
/// files when it is shut down (after the sources drained and the adapters shut down).
final class StoreService: Service {
    let idempotency: any IdempotencyStore
    let journal: any AuditJournal
    let cases: any CaseRegistry
    private let files: [SQLiteStore]
    private let retention: TimeInterval
    private let caseRetention: TimeInterval
    private let interval: Duration
    private let logger: Logger

    /// Opens the stores of `settings`; without a path a store is kept in memory (with a warning).
    /// - Throws: ``StoreError`` naming the file that cannot be opened.
    init(_ settings: StoreSettings, purgeInterval: Duration, logger: Logger) throws {
        var opened: [String: SQLiteStore] = [:]
        func store(_ path: String) throws -> SQLiteStore {
            if let existing = opened[path] { return existing }
            let store = try SQLiteStore(path: path)
            opened[path] = store
            return store
        }
        if let path = settings.idempotency {
            idempotency = try store(path).idempotency
        } else {
            logger.warning(
                "no idempotency store configured (stores.idempotency): duplicates are only detected in memory")
            idempotency = InMemoryIdempotencyStore()
        }
        if let path = settings.audit {
            journal = try store(path).audit
        } else {
            logger.warning("no audit store configured (stores.audit): the audit trail is kept in memory only")
            journal = InMemoryAuditJournal()
        }
        if let path = settings.cases ?? settings.idempotency {
            cases = try store(path).cases
        } else {
            cases = InMemoryCaseRegistry()
        }
        files = opened.sorted { $0.key < $1.key }.map(\.value)
        retention = Self.seconds(settings.retention)
        caseRetention = Self.seconds(settings.caseRetention)
        interval = purgeInterval
        self.logger = logger
    }

    func run() async throws {
        while !Task.isShuttingDownGracefully {
            // Off the cooperative pool's way: a large purge must not hold up the messages.
            await Task.detached(priority: .background) { self.purge() }.value
            let interval = self.interval
            do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) } } catch { break }
        }
        for file in files { file.close() }
        logger.info("stores closed")
    }

    /// Removes expired idempotency records, audit events and cases (a failure is logged; the
    /// next round tries again).
    private func purge() {
        for file in files {
            do {
                try file.purgeExpired(retention: retention, caseRetention: caseRetention)
            } catch {
                logger.warning("purging expired store records failed", metadata: ["error": "\(error)"])
            }
        }
    }

    private static func seconds(_ duration: Duration) -> TimeInterval {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
