import Foundation

/// Splits a byte stream into frames (framing v1), however the bytes arrive: a frame may come
/// in many reads, and one read may hold several frames.
///
/// After a ``FrameProtocolError`` the stream is out of step and the decoder must not be fed
/// again (the program is restarted).
public struct FrameDecoder: Sendable {
    /// Longest header line accepted (a header is metadata, not content).
    public let maximumHeaderLength: Int
    /// Largest body accepted.
    public let maximumBodyLength: Int

    private var buffer: [UInt8] = []
    private var start = 0
    private var header: FrameHeader?

    public init(maximumHeaderLength: Int = 64 * 1024, maximumBodyLength: Int = 64 * 1024 * 1024) {
        self.maximumHeaderLength = maximumHeaderLength
        self.maximumBodyLength = maximumBodyLength
    }

    /// Bytes received but not yet part of a complete frame.
    public var pendingByteCount: Int { buffer.count - start }

    /// Adds `bytes` and returns every frame now complete, in order.
    public mutating func feed(_ bytes: some Collection<UInt8>) throws -> [Frame] {
        buffer.append(contentsOf: bytes)
        var frames: [Frame] = []
        while let frame = try next() { frames.append(frame) }
        if start > 0 && start >= buffer.count / 2 {
            buffer.removeSubrange(0..<start)
            start = 0
        }
        return frames
    }

    private mutating func next() throws -> Frame? {
        if header == nil {
            guard let newline = buffer[start...].firstIndex(of: 0x0A) else {
                if pendingByteCount > maximumHeaderLength {
                    throw FrameProtocolError("header line longer than \(maximumHeaderLength) bytes (no newline)")
                }
                return nil
            }
            let line = Array(buffer[start..<newline])
            start = newline + 1
            header = try Self.parseHeader(line, maximumLength: maximumHeaderLength, maximumBody: maximumBodyLength)
        }
        guard let current = header else { return nil }
        guard pendingByteCount >= current.length + 1 else { return nil }
        let body = Array(buffer[start..<(start + current.length)])
        guard buffer[start + current.length] == 0x0A else {
            throw FrameProtocolError(
                "frame '\(current.type)' seq \(current.seq.map(String.init) ?? "-") is not followed by a newline after "
                    + "\(current.length) body bytes (wrong 'length'?)")
        }
        start += current.length + 1
        header = nil
        return Frame(current, body: body)
    }

    static func parseHeader(_ line: [UInt8], maximumLength: Int, maximumBody: Int) throws -> FrameHeader {
        guard line.count <= maximumLength else {
            throw FrameProtocolError("header line longer than \(maximumLength) bytes")
        }
        let header: FrameHeader
        do {
            header = try JSONDecoder().decode(FrameHeader.self, from: Data(line))
        } catch {
            let excerpt = String(decoding: line.prefix(120), as: UTF8.self)
            throw FrameProtocolError(
                "header is not a JSON object with 'v', 'type' and 'length': \(excerpt) (\(Self.describe(error)))")
        }
        guard header.version == Frame.version else {
            throw FrameProtocolError(
                "unsupported framing version \(header.version) (this Stadtbus speaks \(Frame.version))")
        }
        guard header.length >= 0, header.length <= maximumBody else {
            throw FrameProtocolError("'length' \(header.length) is outside 0...\(maximumBody)")
        }
        return header
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): return "missing '\(key.stringValue)'"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return "wrong type at '\(context.codingPath.map(\.stringValue).joined(separator: "."))'"
        case DecodingError.dataCorrupted: return "not valid JSON"
        default: return "\(error)"
        }
    }
}
