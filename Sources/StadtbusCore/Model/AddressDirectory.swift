/// One entry of the address directory: where messages for an authority go.
public struct AddressEntry: Sendable, Equatable {
    /// The authority's `kennung` (`ags:01061017`).
    public var kennung: String
    /// The endpoint that reaches it.
    public var endpoint: String
    /// A display name (`Gemeinde Breitenburg`).
    public var name: String?

    public init(kennung: String, endpoint: String, name: String? = nil) {
        self.kennung = kennung
        self.endpoint = endpoint
        self.name = name
    }
}

/// The address directory (`address-directory:` — in the spirit of the DVDV): maps an
/// authority's `kennung` to the endpoint that reaches it, for `directory:reader` and
/// `directory:author` destinations.
public struct AddressDirectory: Sendable, Equatable {
    /// The entries by `kennung`.
    public private(set) var entries: [String: AddressEntry]

    public init(_ entries: [AddressEntry] = []) {
        var byKennung: [String: AddressEntry] = [:]
        for entry in entries { byKennung[entry.kennung] = entry }
        self.entries = byKennung
    }

    /// The entry for `kennung` (compared exactly).
    public func entry(for kennung: String) -> AddressEntry? { entries[kennung] }

    public var isEmpty: Bool { entries.isEmpty }
}

/// Which authority of the message header a `directory:` destination addresses.
public enum DirectoryRole: String, Sendable, Hashable, CaseIterable {
    /// `directory:reader` — the header's reader (Empfänger).
    case reader
    /// `directory:author` — the header's author (Autor), e.g. to answer the sender.
    case author
}
