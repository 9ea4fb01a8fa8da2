import Foundation
import StadtbusCore

/// Delivers outgoing messages to `file` endpoints: the document is written to a hidden
/// temporary file in the target directory, flushed to disk, then renamed into place — a
/// reader of the directory never sees a partial file, and the rename is the durable moment.
///
/// The file is named after the message identity (`<messageID>.xml`, unsafe characters
/// replaced), so a redelivery replaces the same file instead of adding a second one.
struct FileSink: MessageSink {
    func deliver(_ message: OutgoingMessage, to endpoint: Endpoint) async throws {
        guard let directory = endpoint.settings["directory"]?.string else {
            throw DeliveryError.permanent("configuration", "endpoint '\(endpoint.name)' has no directory")
        }
        let name = Self.fileName(for: message.messageID)
        let target = URL(fileURLWithPath: directory).appendingPathComponent(name)
        let temporary = URL(fileURLWithPath: directory).appendingPathComponent(".\(name).\(UUID().uuidString).tmp")
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try Self.writeDurably(message.body, to: temporary)
            guard rename(temporary.path, target.path) == 0 else {
                throw DeliveryError.transient(
                    "file", "cannot rename into \(target.path): \(String(cString: strerror(errno)))")
            }
        } catch let error as DeliveryError {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            // A full disk or a permission problem may be fixed by an operator: retry.
            throw DeliveryError.transient("file", "cannot write \(target.path): \(error.localizedDescription)")
        }
    }

    /// `<identity>.xml` with every character outside `[A-Za-z0-9._-]` replaced by `_`.
    static func fileName(for messageID: String) -> String {
        let safe = String(
            messageID.unicodeScalars.map { scalar -> Character in
                CharacterSet.alphanumerics.contains(scalar) && scalar.isASCII || "._-".unicodeScalars.contains(scalar)
                    ? Character(scalar) : "_"
            })
        return (safe.hasPrefix(".") ? "_" + safe.dropFirst() : Substring(safe)) + ".xml"
    }

    static func writeDurably(_ bytes: [UInt8], to url: URL) throws {
        let descriptor = open(url.path, O_WRONLY | O_CREAT | O_EXCL, 0o640)
        guard descriptor >= 0 else {
            throw DeliveryError.transient("file", "cannot create \(url.path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        var written = 0
        while written < bytes.count {
            let result = bytes[written...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            guard result > 0 else {
                throw DeliveryError.transient("file", "cannot write \(url.path): \(String(cString: strerror(errno)))")
            }
            written += result
        }
        guard fsync(descriptor) == 0 else {
            throw DeliveryError.transient("file", "cannot flush \(url.path): \(String(cString: strerror(errno)))")
        }
    }
}
