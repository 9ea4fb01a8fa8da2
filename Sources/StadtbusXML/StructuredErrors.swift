internal import CLibXML
import Foundation

/// Collects libxml2's structured errors (message, line, column) during one operation.
///
/// libxml2 reports errors through C callbacks; this box is handed to them as context and
/// read afterwards. Used for schema compilation/validation and XPath.
final class StructuredErrors {
    /// One error as libxml2 reported it.
    struct Entry {
        var message: String
        var line: Int
        var column: Int
        var file: String?
    }

    private(set) var entries: [Entry] = []
    /// Stop collecting after this many (a broken document can produce thousands).
    let limit = 50

    func append(_ error: xmlErrorPtr) {
        guard entries.count < limit else { return }
        let raw = error.pointee.message.map { String(cString: $0) } ?? "unknown error"
        var message = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        if error.pointee.domain == Int32(XML_FROM_SCHEMASV.rawValue) {
            // Validation messages quote the document's values (personal data): keep line, element and rule only.
            message = ValidationMessageMask.mask(message, values: Self.values(of: error.pointee.node))
        }
        entries.append(
            Entry(
                message: message,
                line: Int(error.pointee.line),
                column: Int(error.pointee.int2),
                file: error.pointee.file.map { String(cString: $0) }))
    }

    /// The content of the node an error is about, as in the document and whitespace-collapsed.
    private static func values(of node: UnsafeMutableRawPointer?) -> [String] {
        guard let node = node?.assumingMemoryBound(to: xmlNode.self), let content = xmlNodeGetContent(node) else {
            return []
        }
        defer { libxmlFree(content) }
        let text = String(cString: content)
        guard text.utf8.count <= 65_536 else { return [] }
        return [text, text.split(whereSeparator: \.isWhitespace).joined(separator: " ")]
    }

    /// The messages joined for one-line reports, or `fallback` when there are none.
    func summary(default fallback: String) -> String {
        entries.isEmpty ? fallback : entries.map(\.message).joined(separator: "; ")
    }

    /// The C callback that appends to the box passed as its context.
    static let handler: xmlStructuredErrorFunc = { context, error in
        guard let context, let error else { return }
        Unmanaged<StructuredErrors>.fromOpaque(context).takeUnretainedValue().append(error)
    }

    /// The box as an opaque C context (valid while `self` is alive).
    var context: UnsafeMutableRawPointer { Unmanaged.passUnretained(self).toOpaque() }

    /// Runs `body` with libxml2's thread-local structured error handler pointing at this box.
    func capturingGlobal<T>(_ body: () -> T) -> T {
        xmlSetStructuredErrorFunc(context, Self.handler)
        defer { xmlSetStructuredErrorFunc(nil, nil) }
        return withExtendedLifetime(self) { body() }
    }
}
