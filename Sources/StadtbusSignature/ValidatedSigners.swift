import Foundation
import Synchronization

/// A signer certificate whose chain, validity, revocation and key usage were checked.
struct ValidatedSigner: Sendable {
    let leaf: Certificate
    let summary: CertificateSummary
    /// When the whole chain is valid.
    let period: ClosedRange<time_t>
}

/// Signer certificates a ``SignatureVerifier`` has validated, keyed by the exact KeyInfo
/// certificate texts, so that the usual handful of partner certificates is decoded and
/// chain-validated once instead of for every message.
///
/// Only successful validations are kept, and only used at times inside the chain's
/// validity period, cut at the earliest nextUpdate of the trust store's CRLs; outside it the
/// certificate is validated again (and rejected with the precise reason). Sound because the
/// trust store, its CRLs included, is immutable (a new CRL comes with a new verifier on
/// reload). Bounded (emptied when full) and guarded by a mutex.
final class ValidatedSigners: Sendable {
    private let entries = Mutex<[[String]: ValidatedSigner]>([:])
    private let capacity: Int

    init(capacity: Int = 512) {
        self.capacity = capacity
    }

    func lookup(_ texts: [String], at time: time_t) -> ValidatedSigner? {
        guard let signer = entries.withLock({ $0[texts] }), signer.period.contains(time) else { return nil }
        return signer
    }

    func store(_ signer: ValidatedSigner, for texts: [String]) {
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[texts] = signer
        }
    }
}
