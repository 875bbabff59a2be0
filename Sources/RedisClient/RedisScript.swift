import Synchronization

/// A Lua script run with `EVALSHA`. Its SHA comes from `SCRIPT LOAD` and is kept here; when the
/// server has forgotten it (restart, `SCRIPT FLUSH`) the script is loaded again and retried once.
public final class RedisScript: Sendable {
    public let name: String
    public let source: String
    private let sha = Mutex<String?>(nil)

    public init(name: String, source: String) {
        self.name = name
        self.source = source
    }

    var loadedSHA: String? { sha.withLock { $0 } }

    func remember(_ value: String) { sha.withLock { $0 = value } }
}

extension RedisClient {
    /// Loads scripts with `SCRIPT LOAD` (at start, so the first request does not pay for it),
    /// on every primary of a cluster.
    public func load(_ scripts: [RedisScript]) async throws {
        for node in try await nodes() {
            for script in scripts {
                let reply = try await send(RedisCommand<String>.scriptLoad(script.source).arguments, toNode: node)
                guard let sha = reply.string else { throw RedisError(.unexpectedReply, "SCRIPT LOAD answered \(reply)") }
                script.remember(sha)
            }
        }
    }

    /// Runs a script with `EVALSHA`, loading it first if needed and again after `NOSCRIPT`.
    public func evaluate(_ script: RedisScript, keys: [String], arguments: [String] = []) async throws -> RedisReply {
        if let sha = script.loadedSHA {
            do {
                return try await send(.evalsha(sha, keys: keys, arguments: arguments))
            } catch let error as RedisError where error.isNoScript {
                // fall through to reload
            }
        }
        // On the node that runs the script (in a cluster, the node of its first key).
        let sha: String
        if let key = keys.first {
            sha = try await send(.scriptLoad(script.source), routedBy: key)
        } else {
            sha = try await send(.scriptLoad(script.source))
        }
        script.remember(sha)
        do {
            return try await send(.evalsha(sha, keys: keys, arguments: arguments))
        } catch let error as RedisError where error.isNoScript {
            // Flushed again between the load and the call (they may go over different pooled
            // connections): EVAL carries the source, so it cannot miss.
            return try await send(.eval(script.source, keys: keys, arguments: arguments))
        }
    }
}
