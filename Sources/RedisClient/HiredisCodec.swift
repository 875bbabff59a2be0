private import CHiredis
public import NIOCore

/// Encodes an argument vector as a RESP command with hiredis' `redisFormatCommandArgv`.
public enum RESPEncoder {
    public static func encode(_ arguments: [String], into buffer: inout ByteBuffer) {
        // One contiguous copy of every argument, so argv points into a single allocation.
        var storage: [UInt8] = []
        storage.reserveCapacity(arguments.reduce(1) { $0 + $1.utf8.count })
        var offsets: [Int] = []
        var lengths: [Int] = []
        offsets.reserveCapacity(arguments.count)
        lengths.reserveCapacity(arguments.count)
        for argument in arguments {
            offsets.append(storage.count)
            storage.append(contentsOf: argument.utf8)
            lengths.append(storage.count - offsets[offsets.count - 1])
        }
        storage.append(0)  // never empty, so the base address is never nil

        storage.withUnsafeBufferPointer { bytes in
            let base = UnsafeRawPointer(bytes.baseAddress!)
            var argv: [UnsafePointer<CChar>?] = offsets.map {
                (base + $0).assumingMemoryBound(to: CChar.self)
            }
            var command: UnsafeMutablePointer<CChar>?
            let length = argv.withUnsafeMutableBufferPointer { argvBuffer in
                redisFormatCommandArgv(&command, Int32(arguments.count), argvBuffer.baseAddress, lengths)
            }
            // Fails only when malloc does; nothing sensible to send then.
            guard length > 0, let command else { fatalError("redisFormatCommandArgv could not allocate") }
            defer { redisFreeCommand(command) }
            buffer.writeBytes(UnsafeRawBufferPointer(start: command, count: Int(length)))
        }
    }

    public static func encode(_ arguments: [String]) -> ByteBuffer {
        var buffer = ByteBuffer()
        encode(arguments, into: &buffer)
        return buffer
    }
}

/// Decodes RESP with hiredis' `redisReader`; each `redisReply` becomes a `RedisReply` and is freed here.
///
/// `@unchecked Sendable` is not claimed: a reader belongs to one channel handler on one event loop.
public final class RESPDecoder {
    private let reader: UnsafeMutablePointer<redisReader>

    public init() {
        guard let reader = redisReaderCreate() else { fatalError("redisReaderCreate could not allocate") }
        self.reader = reader
    }

    deinit {
        redisReaderFree(reader)
    }

    public func feed(_ buffer: ByteBuffer) {
        buffer.withUnsafeReadableBytes { bytes in
            guard let base = bytes.baseAddress, bytes.count > 0 else { return }
            _ = redisReaderFeed(reader, base.assumingMemoryBound(to: CChar.self), bytes.count)
        }
    }

    /// The next complete reply, or nil when more bytes are needed.
    public func next() throws(RedisError) -> RedisReply? {
        var raw: UnsafeMutableRawPointer?
        guard redisReaderGetReply(reader, &raw) == REDIS_OK else {
            let message = withUnsafePointer(to: reader.pointee.errstr) { pointer in
                pointer.withMemoryRebound(to: CChar.self, capacity: 128) { String(cString: $0) }
            }
            throw RedisError(.protocolError, message)
        }
        guard let raw else { return nil }
        defer { freeReplyObject(raw) }
        return Self.convert(raw.assumingMemoryBound(to: redisReply.self))
    }

    private static func convert(_ reply: UnsafeMutablePointer<redisReply>) -> RedisReply {
        let value = reply.pointee
        switch value.type {
        case REDIS_REPLY_STRING:
            var buffer = ByteBuffer()
            buffer.writeBytes(UnsafeRawBufferPointer(start: value.str, count: Int(value.len)))
            return .bulkString(buffer)
        case REDIS_REPLY_STATUS:
            return .status(text(value))
        case REDIS_REPLY_ERROR:
            return .error(text(value))
        case REDIS_REPLY_INTEGER:
            return .integer(Int(value.integer))
        case REDIS_REPLY_ARRAY:
            var elements: [RedisReply] = []
            elements.reserveCapacity(Int(value.elements))
            for index in 0..<Int(value.elements) {
                if let element = value.element[index] { elements.append(convert(element)) }
            }
            return .array(elements)
        default:
            return .null
        }
    }

    private static func text(_ value: redisReply) -> String {
        let bytes = UnsafeRawBufferPointer(start: value.str, count: Int(value.len))
        return String(decoding: bytes, as: UTF8.self)
    }
}
