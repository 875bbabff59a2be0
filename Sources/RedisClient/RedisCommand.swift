/// One Redis command: its argument vector as it goes on the wire, and how its reply decodes.
public struct RedisCommand<Response: Sendable>: Sendable {
    public let arguments: [String]
    let decode: @Sendable (RedisReply) throws -> Response

    public init(_ arguments: [String], decode: @escaping @Sendable (RedisReply) throws -> Response) {
        self.arguments = arguments
        self.decode = decode
    }

    /// Decodes a reply; error replies have been turned into errors before this.
    public func decodeReply(_ reply: RedisReply) throws -> Response {
        try decode(reply)
    }
}

extension RedisCommand where Response == RedisReply {
    /// Any command, answered with its raw reply.
    public init(_ arguments: [String]) {
        self.init(arguments) { $0 }
    }
}

private func unexpected(_ reply: RedisReply, for name: String) -> RedisError {
    RedisError(.unexpectedReply, "\(name) answered \(reply)")
}

extension RedisCommand {
    public static func ping() -> RedisCommand<String> {
        RedisCommand<String>(["PING"]) { reply in
            guard let text = reply.string else { throw unexpected(reply, for: "PING") }
            return text
        }
    }

    public static func get(_ key: String) -> RedisCommand<String?> {
        RedisCommand<String?>(["GET", key]) { reply in
            if reply.isNull { return nil }
            guard let text = reply.string else { throw unexpected(reply, for: "GET") }
            return text
        }
    }

    /// `SET key value [NX] [PX ms]`; true when the value was set (false when `NX` found the key taken).
    public static func set(
        _ key: String,
        _ value: String,
        onlyIfAbsent: Bool = false,
        expireMilliseconds: Int? = nil
    ) -> RedisCommand<Bool> {
        var arguments = ["SET", key, value]
        if onlyIfAbsent { arguments.append("NX") }
        if let expireMilliseconds { arguments += ["PX", String(expireMilliseconds)] }
        return RedisCommand<Bool>(arguments) { reply in
            switch reply {
            case .status("OK"): return true
            case .null: return false
            default: throw unexpected(reply, for: "SET")
            }
        }
    }

    public static func del(_ keys: [String]) -> RedisCommand<Int> {
        integer(["DEL"] + keys)
    }

    public static func incr(_ key: String) -> RedisCommand<Int> {
        integer(["INCR", key])
    }

    public static func pexpire(_ key: String, milliseconds: Int) -> RedisCommand<Int> {
        integer(["PEXPIRE", key, String(milliseconds)])
    }

    public static func publish(_ channel: String, _ message: String) -> RedisCommand<Int> {
        integer(["PUBLISH", channel, message])
    }

    public static func scriptLoad(_ source: String) -> RedisCommand<String> {
        RedisCommand<String>(["SCRIPT", "LOAD", source]) { reply in
            guard let sha = reply.string else { throw unexpected(reply, for: "SCRIPT LOAD") }
            return sha
        }
    }

    public static func evalsha(_ sha: String, keys: [String], arguments: [String]) -> RedisCommand<RedisReply> {
        RedisCommand<RedisReply>(["EVALSHA", sha, String(keys.count)] + keys + arguments)
    }

    public static func eval(_ source: String, keys: [String], arguments: [String]) -> RedisCommand<RedisReply> {
        RedisCommand<RedisReply>(["EVAL", source, String(keys.count)] + keys + arguments)
    }

    static func integer(_ arguments: [String]) -> RedisCommand<Int> {
        RedisCommand<Int>(arguments) { reply in
            guard case .integer(let value) = reply else { throw unexpected(reply, for: arguments[0]) }
            return value
        }
    }
}
