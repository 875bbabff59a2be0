/// An error from the Redis client. `description` never contains a password or command arguments.
public struct RedisError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case unavailable, connectionClosed, timeout, protocolError, server
            case unexpectedReply, invalidConfiguration, subscriptionOverflow, shutdown
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// Redis could not be reached; the client is backing off before the next attempt.
        public static let unavailable = Code(.unavailable)
        /// The connection closed while the command was in flight: it may or may not have run.
        public static let connectionClosed = Code(.connectionClosed)
        /// No reply came within the command timeout.
        public static let timeout = Code(.timeout)
        /// The bytes from the server were not valid RESP.
        public static let protocolError = Code(.protocolError)
        /// Redis answered with an error reply (`ERR …`, `NOSCRIPT …`, a script's own error).
        public static let server = Code(.server)
        /// A reply of a shape the command does not expect.
        public static let unexpectedReply = Code(.unexpectedReply)
        public static let invalidConfiguration = Code(.invalidConfiguration)
        /// A subscriber read too slowly and its buffer filled up.
        public static let subscriptionOverflow = Code(.subscriptionOverflow)
        /// The client is shutting down.
        public static let shutdown = Code(.shutdown)

        public var description: String { base.rawValue }
    }

    public var code: Code
    public var message: String
    /// The command never reached the socket, so sending it again cannot run it twice.
    var commandWasNotSent = false

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// `EVALSHA` of a script this server does not know (after a restart or `SCRIPT FLUSH`).
    public var isNoScript: Bool { code == .server && message.hasPrefix("NOSCRIPT") }

    public var description: String { "redis \(code): \(message)" }

    public static func == (lhs: RedisError, rhs: RedisError) -> Bool {
        lhs.code == rhs.code && lhs.message == rhs.message
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(message)
    }
}
