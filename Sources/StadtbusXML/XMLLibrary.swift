internal import CLibXML
internal import CXMLShim
import Foundation
import Synchronization

/// Process-wide set-up of libxml2 and libxslt, done once before any other call.
///
/// ## Thread safety (how C objects are shared)
/// - ``XMLDocument`` values belong to one task at a time: libxml2 documents are not safe to
///   read while another thread mutates them, so a document is never shared (it is not `Sendable`).
/// - ``XMLSchema``, ``XSLTStylesheet`` and ``XPathExpression`` are compiled once and are
///   immutable afterwards; they are `Sendable` and used from any number of worker threads at once.
///   Every use creates its own short-lived C context (validation context, transformation context,
///   XPath context), which is the way libxml2/libxslt support concurrent use of shared schemas
///   and stylesheets.
/// - Global libxml2 state (catalogs, the external entity loader, libxslt's generic error
///   handler) is only changed under ``XMLLibrary``'s lock, at start-up or while compiling.
public enum XMLLibrary {
    private static let lock = Mutex(())
    private static let initialized: Bool = {
        xmlInitParser()
        // Every external resource (schema imports, xsl:import, DTDs of trusted schemas) is resolved
        // through the XML catalogs and never fetched from the network: libxml2's no-net loader
        // consults the catalogs first and refuses http/ftp URLs that they do not map.
        xmlSetExternalEntityLoader(xmlNoNetExternalEntityLoader)
        // Never consult /etc/xml/catalog or XML_CATALOG_FILES implicitly: only catalogs that the
        // configuration names (``XMLCatalogs/load(_:)``) are used, so validation behaves the same
        // on every machine. An empty XML_CATALOG_FILES while initialising gives an empty default
        // catalog; the caller's environment is restored afterwards.
        let previous = getenv("XML_CATALOG_FILES").map { String(cString: $0) }
        setenv("XML_CATALOG_FILES", "", 1)
        xmlInitializeCatalog()
        if let previous { setenv("XML_CATALOG_FILES", previous, 1) } else { unsetenv("XML_CATALOG_FILES") }
        // Global catalogs only: a document cannot bring its own (oasis-xml-catalog PI).
        xmlCatalogSetDefaults(XML_CATA_ALLOW_GLOBAL)
        xmlCatalogSetDefaultPrefer(XML_CATA_PREFER_PUBLIC)
        xsltInit()
        exsltRegisterAll()
        // Configured XML is loaded without DTD-borne reads: stylesheets without entity
        // substitution or DTD loading (a DOCTYPE in one is refused), and no external entity or
        // external DTD subset anywhere — an entity in a stylesheet or schema cannot read a file.
        stadtbus_install_safe_loaders()
        // Compile-time errors of libxml2/libxslt are collected per call; silence the defaults.
        stadtbus_xml_collect_generic_errors(nil)
        stadtbus_xslt_collect_generic_errors(nil)
        return true
    }()

    /// Initialises the libraries; cheap after the first call. All façade entry points call it.
    public static func initialize() {
        _ = initialized
    }

    /// Runs `body` while holding the lock that guards libxml2's process-wide state.
    static func withGlobalLock<T>(_ body: () throws -> T) rethrows -> T {
        initialize()
        return try lock.withLock { _ in try body() }
    }
}
