// The only file of the module that imports libxml2 with `@preconcurrency`: it reads the global
// `xmlFree`, which Swift 6 sees as shared mutable state.
@preconcurrency internal import CLibXML

/// Frees memory that libxml2 allocated and handed to the caller (a string from
/// `xmlNodeGetContent`, `xmlCatalogResolveURI`, `xmlGetNsProp` …), in this module or in the
/// other C façade of the package (StadtbusSignature).
///
/// libxml2 keeps its deallocator in the global function pointer `xmlFree`. It is set when the
/// library is loaded and would only change through `xmlMemSetup`, which Stadtbus never calls,
/// so reading it from any thread is safe.
package func libxmlFree(_ pointer: UnsafeMutableRawPointer?) {
    xmlFree(pointer)
}
