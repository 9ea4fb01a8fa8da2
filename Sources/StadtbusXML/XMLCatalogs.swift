internal import CLibXML
import Foundation
import Synchronization

/// OASIS XML catalogs that map the http(s) URLs of schema imports to local files.
///
/// XÖV schemas import each other by URL; Stadtbus never fetches them. Load the catalogs
/// once at start-up, before compiling schemas. Loaded catalogs stay in effect for the life
/// of the process (libxml2 keeps them in one global default catalog).
public enum XMLCatalogs {
    /// The catalogs loaded so far (each is loaded once).
    private static let loaded = Mutex<Set<String>>([])

    /// Adds the catalog at `path` to the process's catalogs (once per path).
    /// - Throws: ``XMLError/catalogLoadFailed(path:)`` when the file is missing or unreadable.
    public static func load(_ path: String) throws {
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        try XMLLibrary.withGlobalLock {
            if loaded.withLock({ $0.contains(absolute) }) { return }
            guard FileManager.default.isReadableFile(atPath: absolute), xmlLoadCatalog(absolute) == 0 else {
                throw XMLError.catalogLoadFailed(path: absolute)
            }
            loaded.withLock { _ = $0.insert(absolute) }
        }
    }

    /// Where the catalogs map `uri` (a schemaLocation or system id), or `nil` if they do not.
    public static func resolve(_ uri: String) -> String? {
        XMLLibrary.withGlobalLock {
            guard let resolved = xmlCatalogResolveURI(uri) ?? xmlCatalogResolveSystem(uri) else { return nil }
            defer { libxmlFree(resolved) }
            return String(cString: resolved)
        }
    }
}
