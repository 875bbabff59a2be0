public import NIOCore

/// A reply from Redis, converted from hiredis' `redisReply` the moment it is read.
public enum RedisReply: Sendable, Hashable {
    case status(String)
    case error(String)
    case integer(Int)
    case bulkString(ByteBuffer)
    case null
    case array([RedisReply])

    /// The text of a bulk string or a status reply.
    public var string: String? {
        switch self {
        case .bulkString(let buffer): String(buffer: buffer)
        case .status(let text): text
        default: nil
        }
    }

    /// An integer reply, or a bulk string holding a decimal integer (as `GET` of a counter returns).
    public var integer: Int? {
        switch self {
        case .integer(let value): value
        case .bulkString(let buffer): Int(String(buffer: buffer))
        default: nil
        }
    }

    public var array: [RedisReply]? {
        if case .array(let elements) = self { elements } else { nil }
    }

    public var isNull: Bool {
        if case .null = self { true } else { false }
    }
}

extension RedisReply: CustomStringConvertible {
    public var description: String {
        switch self {
        case .status(let text): "+\(text)"
        case .error(let text): "-\(text)"
        case .integer(let value): ":\(value)"
        case .bulkString(let buffer): "\"\(String(buffer: buffer))\""
        case .null: "(nil)"
        case .array(let elements): "[\(elements.map(\.description).joined(separator: ", "))]"
        }
    }
}
