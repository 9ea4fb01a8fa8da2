import Foundation

/// A fresh directory under the system's temporary directory; tests remove it in `tearDown`.
final class TemporaryDirectory {
    let path: String

    init() throws {
        let base = (NSTemporaryDirectory() as NSString).appendingPathComponent("stadtbus-store-test-")
        var template = Array((base + "XXXXXX").utf8CString)
        guard let created = mkdtemp(&template) else {
            throw NSError(domain: NSPOSIXErrorDomain, code: Int(errno))
        }
        path = String(cString: created)
    }

    func file(_ name: String) -> String {
        (path as NSString).appendingPathComponent(name)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}
