import Foundation
import Logging
import Synchronization

/// How Stadtbus writes log lines.
public enum LogFormat: String, Sendable, CaseIterable {
    /// `2026-11-25T10:00:00Z info stadtbus: route=antrag message_id=… delivered` — for people.
    case human
    /// One JSON object per line — for log shippers.
    case json

    /// Bootstraps swift-log once per process with this format on standard error, at the
    /// level held by `level` (changeable later, e.g. by a configuration reload).
    public func bootstrap(level: LogLevelBox) {
        LoggingSystem.bootstrap { label in
            switch self {
            case .human: return LineLogHandler(label: label, level: level, render: LineLogHandler.human)
            case .json: return LineLogHandler(label: label, level: level, render: LineLogHandler.json)
            }
        }
    }
}

/// A log level shared by every logger and changeable at run time (configuration reload).
public final class LogLevelBox: Sendable {
    private let current: Mutex<Logger.Level>

    /// Creates the box holding `level`.
    public init(_ level: Logger.Level) { current = Mutex(level) }

    /// The level every logger of the process logs at.
    public var level: Logger.Level {
        get { current.withLock { $0 } }
        set { current.withLock { $0 = newValue } }
    }
}

/// Writes one line per log event to standard error, rendered by a format function.
struct LineLogHandler: LogHandler {
    typealias Render =
        @Sendable (
            _ label: String, _ level: Logger.Level, _ message: String, _ metadata: Logger.Metadata
        ) -> String

    let label: String
    let levelBox: LogLevelBox
    let render: Render
    var metadata: Logger.Metadata = [:]
    /// Standard error, behind a mutex so that lines of concurrent events never interleave.
    private static let output = Mutex(FileHandle.standardError)

    init(label: String, level: LogLevelBox, render: @escaping Render) {
        self.label = label
        self.levelBox = level
        self.render = render
    }

    var logLevel: Logger.Level {
        get { levelBox.level }
        set { levelBox.level = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        let line = render(label, event.level, "\(event.message)", merged) + "\n"
        Self.output.withLock { $0.write(Data(line.utf8)) }
    }

    private static func timestamp() -> String {
        Date().formatted(
            .iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }

    /// Every text that comes from outside (label, keys, values, message) is passed through
    /// ``escapingControlCharacters(_:)``: one event is one line, so a value holding a line
    /// break cannot forge a log line of its own.
    static let human: Render = { label, level, message, metadata in
        let fields = metadata.sorted { $0.key < $1.key }
            .map { "\(escapingControlCharacters($0.key))=\(escapingControlCharacters("\($0.value)"))" }
            .joined(separator: " ")
        let text = escapingControlCharacters(message)
        return
            "\(timestamp()) \(level) \(escapingControlCharacters(label)): \(fields.isEmpty ? "" : fields + " ")\(text)"
    }

    /// `text` with line breaks and other control characters written as escapes: `\n`, `\r`,
    /// `\t`, else `\u{1B}`-style (C0 and C1 controls, DEL, U+2028 and U+2029). Text without
    /// them is returned as it is.
    static func escapingControlCharacters(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isControl) else { return text }
        var escaped = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": escaped.append(contentsOf: #"\n"#.unicodeScalars)
            case "\r": escaped.append(contentsOf: #"\r"#.unicodeScalars)
            case "\t": escaped.append(contentsOf: #"\t"#.unicodeScalars)
            case _ where isControl(scalar):
                escaped.append(contentsOf: "\\u{\(String(scalar.value, radix: 16, uppercase: true))}".unicodeScalars)
            default: escaped.append(scalar)
            }
        }
        return String(escaped)
    }

    /// Characters that end a line or steer a terminal.
    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029
    }

    /// JSONSerialization writes every control character as an escape (`\n`, `\u001b`), so a
    /// JSON line stays one line too.
    static let json: Render = { label, level, message, metadata in
        var object: [String: Any] = ["ts": timestamp(), "level": "\(level)", "logger": label, "msg": message]
        for (key, value) in metadata { object[key] = plain(value) }
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else {
            return #"{"level":"error","msg":"unencodable log event"}"#
        }
        return String(decoding: data, as: UTF8.self)
    }

    private static func plain(_ value: Logger.MetadataValue) -> Any {
        switch value {
        case .string(let string): return string
        case .stringConvertible(let convertible): return "\(convertible)"
        case .array(let array): return array.map(plain)
        case .dictionary(let dictionary): return dictionary.mapValues(plain)
        }
    }
}
