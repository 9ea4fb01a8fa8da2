import CRabbitMQ
import Foundation

/// A value in an AMQP field table (message headers, queue/exchange arguments).
public indirect enum AMQPHeaderValue: Sendable, Equatable, CustomStringConvertible {
    case string(String)
    case int(Int64)
    case bool(Bool)
    case double(Double)
    /// AMQP timestamps have second resolution.
    case timestamp(Date)
    case bytes([UInt8])
    case table([String: AMQPHeaderValue])
    case array([AMQPHeaderValue])
    case void

    public var description: String {
        switch self {
        case .string(let s): return s
        case .int(let i): return String(i)
        case .bool(let b): return String(b)
        case .double(let d): return String(d)
        case .timestamp(let d): return d.description
        case .bytes(let b): return "\(b.count) bytes"
        case .table(let t): return t.description
        case .array(let a): return a.description
        case .void: return "void"
        }
    }

    /// The string value, if this is a string.
    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// The integer value, if this is an integer.
    public var intValue: Int64? {
        if case .int(let i) = self { return i }
        return nil
    }
}

extension AMQPHeaderValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}

/// C memory for one encoding pass; everything is freed together once the library call returned.
final class CArena {
    private var blocks: [UnsafeMutableRawPointer] = []

    deinit {
        for block in blocks { free(block) }
    }

    func allocate(_ size: Int) -> UnsafeMutableRawPointer {
        let pointer = malloc(max(size, 1))!  // malloc failure is not recoverable
        blocks.append(pointer)
        return pointer
    }

    func bytes(_ string: String) -> amqp_bytes_t {
        var utf8 = Array(string.utf8)
        return bytes(&utf8)
    }

    func bytes(_ data: inout [UInt8]) -> amqp_bytes_t {
        let pointer = allocate(data.count)
        data.withUnsafeBytes { raw in
            if let base = raw.baseAddress { pointer.copyMemory(from: base, byteCount: raw.count) }
        }
        return amqp_bytes_t(len: data.count, bytes: pointer)
    }

    func table(_ values: [String: AMQPHeaderValue]) -> amqp_table_t {
        if values.isEmpty { return amqp_table_t(num_entries: 0, entries: nil) }
        let entries = allocate(MemoryLayout<amqp_table_entry_t>.stride * values.count)
            .bindMemory(to: amqp_table_entry_t.self, capacity: values.count)
        for (index, key) in values.keys.sorted().enumerated() {
            // keys.sorted() makes the encoding deterministic
            entries[index] = amqp_table_entry_t(key: bytes(key), value: field(values[key] ?? .void))
        }
        return amqp_table_t(num_entries: Int32(values.count), entries: entries)
    }

    func field(_ value: AMQPHeaderValue) -> amqp_field_value_t {
        var field = amqp_field_value_t()
        switch value {
        case .string(let s):
            field.kind = UInt8(AMQP_FIELD_KIND_UTF8.rawValue)
            field.value.bytes = bytes(s)
        case .int(let i):
            field.kind = UInt8(AMQP_FIELD_KIND_I64.rawValue)
            field.value.i64 = i
        case .bool(let b):
            field.kind = UInt8(AMQP_FIELD_KIND_BOOLEAN.rawValue)
            field.value.boolean = b ? 1 : 0
        case .double(let d):
            field.kind = UInt8(AMQP_FIELD_KIND_F64.rawValue)
            field.value.f64 = d
        case .timestamp(let date):
            field.kind = UInt8(AMQP_FIELD_KIND_TIMESTAMP.rawValue)
            field.value.u64 = UInt64(max(0, date.timeIntervalSince1970.rounded(.down)))
        case .bytes(var data):
            field.kind = UInt8(AMQP_FIELD_KIND_BYTES.rawValue)
            field.value.bytes = bytes(&data)
        case .table(let t):
            field.kind = UInt8(AMQP_FIELD_KIND_TABLE.rawValue)
            field.value.table = table(t)
        case .array(let items):
            field.kind = UInt8(AMQP_FIELD_KIND_ARRAY.rawValue)
            let entries = allocate(MemoryLayout<amqp_field_value_t>.stride * max(items.count, 1))
                .bindMemory(to: amqp_field_value_t.self, capacity: max(items.count, 1))
            for (index, item) in items.enumerated() { entries[index] = self.field(item) }
            field.value.array = amqp_array_t(num_entries: Int32(items.count), entries: entries)
        case .void:
            field.kind = UInt8(AMQP_FIELD_KIND_VOID.rawValue)
        }
        return field
    }
}

enum FieldTableDecoder {
    static func string(_ bytes: amqp_bytes_t) -> String {
        guard bytes.len > 0, let pointer = bytes.bytes else { return "" }
        let buffer = UnsafeRawBufferPointer(start: pointer, count: bytes.len)
        return String(decoding: buffer, as: UTF8.self)
    }

    static func array(_ bytes: amqp_bytes_t) -> [UInt8] {
        guard bytes.len > 0, let pointer = bytes.bytes else { return [] }
        return Array(UnsafeRawBufferPointer(start: pointer, count: bytes.len))
    }

    static func table(_ table: amqp_table_t) -> [String: AMQPHeaderValue] {
        var result: [String: AMQPHeaderValue] = [:]
        guard table.num_entries > 0, let entries = table.entries else { return result }
        for index in 0..<Int(table.num_entries) {
            let entry = entries[index]
            result[string(entry.key)] = value(entry.value)
        }
        return result
    }

    static func value(_ field: amqp_field_value_t) -> AMQPHeaderValue {
        switch UInt32(field.kind) {
        case AMQP_FIELD_KIND_UTF8.rawValue: return .string(string(field.value.bytes))
        case AMQP_FIELD_KIND_BYTES.rawValue: return .bytes(array(field.value.bytes))
        case AMQP_FIELD_KIND_BOOLEAN.rawValue: return .bool(field.value.boolean != 0)
        case AMQP_FIELD_KIND_I8.rawValue: return .int(Int64(field.value.i8))
        case AMQP_FIELD_KIND_U8.rawValue: return .int(Int64(field.value.u8))
        case AMQP_FIELD_KIND_I16.rawValue: return .int(Int64(field.value.i16))
        case AMQP_FIELD_KIND_U16.rawValue: return .int(Int64(field.value.u16))
        case AMQP_FIELD_KIND_I32.rawValue: return .int(Int64(field.value.i32))
        case AMQP_FIELD_KIND_U32.rawValue: return .int(Int64(field.value.u32))
        case AMQP_FIELD_KIND_I64.rawValue: return .int(field.value.i64)
        case AMQP_FIELD_KIND_U64.rawValue: return .int(Int64(truncatingIfNeeded: field.value.u64))
        case AMQP_FIELD_KIND_F32.rawValue: return .double(Double(field.value.f32))
        case AMQP_FIELD_KIND_F64.rawValue: return .double(field.value.f64)
        case AMQP_FIELD_KIND_DECIMAL.rawValue:
            let decimal = field.value.decimal
            return .double(Double(decimal.value) / pow(10, Double(decimal.decimals)))
        case AMQP_FIELD_KIND_TIMESTAMP.rawValue:
            return .timestamp(Date(timeIntervalSince1970: TimeInterval(field.value.u64)))
        case AMQP_FIELD_KIND_TABLE.rawValue: return .table(table(field.value.table))
        case AMQP_FIELD_KIND_ARRAY.rawValue:
            let array = field.value.array
            guard array.num_entries > 0, let entries = array.entries else { return .array([]) }
            return .array((0..<Int(array.num_entries)).map { value(entries[$0]) })
        default: return .void
        }
    }
}
