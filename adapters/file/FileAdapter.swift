import StadtbusAdapterKit
import StadtbusCore

/// `file`: pick up XML files from a folder and drop files into one — how many records
/// systems import and export.
///
/// Reading takes only complete files (settled for a second, not hidden, not `*.tmp`/`*.part`)
/// and moves each to `done/` or `failed/` (with `NAME.reason.txt`) after processing. Writing
/// goes to a hidden temporary file that is flushed and then renamed into place.
public struct FileAdapter: Adapter {
    public init() {}

    public let type = AdapterType(
        name: "file",
        settings: SettingsSchema([
            .init("directory", .path, required: true),
            .init("pattern", .string, default: .string("*.xml")),
            .init("poll", .duration, default: .duration(.seconds(1))),
        ]),
        canReceive: true, canSend: true,
        summary: "folders: atomic pick-up (done/, failed/) and atomic drop (temp file + rename)")

    public func makeSink(context: AdapterContext) throws -> any MessageSink { FileSink() }

    public func makeSource(for endpoint: Endpoint, context: AdapterContext) throws -> any MessageSource {
        guard let source = FileSource(endpoint: endpoint, context: context) else {
            throw AdapterError.missingSetting(endpoint: endpoint.name, setting: "directory")
        }
        return source
    }
}
