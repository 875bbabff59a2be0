import Foundation
import NIOCore
import RedisClient
import Testing

@Suite struct RedisClientIntegrationTests {
    @Test func setGetAndDeleteRoundTrip() async throws {
        try await TestRedis.withClient { (redis: RedisClient) async throws in
            let key = TestRedis.prefix() + "k"
            #expect(try await redis.send(.set(key, "värde")) == true)
            #expect(try await redis.send(.get(key)) == "värde")
            #expect(try await redis.send(.del([key])) == 1)
            #expect(try await redis.send(.get(key)) == nil)
        }
    }

    @Test func setNXRefusesAKeyThatIsTakenAndPXExpiresIt() async throws {
        try await TestRedis.withClient { (redis: RedisClient) async throws in
            let seat = TestRedis.prefix() + "seat"
            #expect(try await redis.send(.set(seat, "hold-a", onlyIfAbsent: true, expireMilliseconds: 60_000)) == true)
            #expect(try await redis.send(.set(seat, "hold-b", onlyIfAbsent: true, expireMilliseconds: 60_000)) == false)
            #expect(try await redis.send(.get(seat)) == "hold-a")
            let ttl = try await redis.send(RedisCommand(["PTTL", seat])).integer ?? -1
            #expect(ttl > 0 && ttl <= 60_000)

            let shortLived = TestRedis.prefix() + "short"
            #expect(try await redis.send(.set(shortLived, "hold-a", onlyIfAbsent: true, expireMilliseconds: 50)) == true)
            try await Task.sleep(for: .milliseconds(200))
            #expect(try await redis.send(.set(shortLived, "hold-b", onlyIfAbsent: true)) == true)
        }
    }

    @Test func pipelinedCommandsGetTheirRepliesInOrder() async throws {
        try await TestRedis.withClient { (redis: RedisClient) async throws in
            let key = TestRedis.prefix() + "counter"
            let replies = try await redis.pipeline(Array(repeating: ["INCR", key], count: 1_000))
            #expect(replies.map(\.integer) == (1...1_000).map { $0 })
        }
    }

    @Test func manyConcurrentCallersEachGetTheirOwnReply() async throws {
        try await TestRedis.withClient { (redis: RedisClient) async throws in
            let prefix = TestRedis.prefix()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<500 {
                    group.addTask {
                        let key = "\(prefix)\(index)"
                        _ = try await redis.send(.set(key, "value-\(index)"))
                        let value = try await redis.send(.get(key))
                        #expect(value == "value-\(index)")
                    }
                }
                try await group.waitForAll()
            }
        }
    }

    @Test func anErrorReplyBecomesAServerError() async throws {
        try await TestRedis.withClient { (redis: RedisClient) async throws in
            await #expect { try await redis.send(RedisCommand(["NOSUCHCOMMAND"])) } throws: {
                ($0 as? RedisError)?.code == .server
            }
            // The connection is still usable after an error reply.
            #expect(try await redis.send(.ping()) == "PONG")
        }
    }

    @Test func evalshaStillWorksAfterScriptFlush() async throws {
        try await TestRedis.withClient { (redis: RedisClient) async throws in
            let key = TestRedis.prefix() + "script"
            let script = RedisScript(name: "incr-by", source: "return redis.call('INCRBY', KEYS[1], ARGV[1])")
            try await redis.load([script])
            #expect(try await redis.evaluate(script, keys: [key], arguments: ["5"]) == .integer(5))
            _ = try await redis.send(RedisCommand(["SCRIPT", "FLUSH"]))
            #expect(try await redis.evaluate(script, keys: [key], arguments: ["2"]) == .integer(7))
        }
    }

    @Test func scriptsRunWhileAnotherClientKeepsFlushingTheScriptCache() async throws {
        try await TestRedis.withClient { (redis: RedisClient) async throws in
            let key = TestRedis.prefix() + "flushed"
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for _ in 0..<50 { _ = try await redis.send(RedisCommand(["SCRIPT", "FLUSH"])) }
                }
                for _ in 0..<200 {
                    group.addTask {
                        // A fresh script object each time: load, then EVALSHA, with flushes in between.
                        let script = RedisScript(name: "incr", source: "return redis.call('INCR', KEYS[1])")
                        _ = try await redis.evaluate(script, keys: [key])
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await redis.send(.get(key)) == "200")
        }
    }

    @Test func aScriptsOwnErrorIsAServerErrorNotANoScript() async throws {
        try await TestRedis.withClient { (redis: RedisClient) async throws in
            let script = RedisScript(name: "fails", source: "return redis.error_reply('SEAT_TAKEN A1')")
            await #expect {
                try await redis.evaluate(script, keys: [TestRedis.prefix() + "x"])
            } throws: { error in
                guard let error = error as? RedisError else { return false }
                return error.code == .server && error.message.contains("SEAT_TAKEN") && !error.isNoScript
            }
        }
    }

    @Test func pubSubDeliversPublishedMessagesInOrder() async throws {
        try await TestRedis.withClient { (redis: RedisClient) async throws in
            let channel = TestRedis.prefix() + "events"
            let received = try await redis.withSubscription(channels: [channel]) { subscription in
                for index in 0..<20 { _ = try await redis.send(.publish(channel, "m\(index)")) }
                var messages: [String] = []
                for try await message in subscription {
                    messages.append(message.text)
                    if messages.count == 20 { break }
                }
                return messages
            }
            #expect(received == (0..<20).map { "m\($0)" })
        }
    }

    @Test func patternSubscriptionsNameTheChannelAndPattern() async throws {
        try await TestRedis.withClient { (redis: RedisClient) async throws in
            let prefix = TestRedis.prefix()
            let message = try await redis.withSubscription(patterns: ["\(prefix)bo:{st:*}:events"]) { subscription in
                _ = try await redis.send(.publish("\(prefix)bo:{st:42}:events", "{\"version\":3}"))
                for try await message in subscription { return message }
                throw TestSetupError("subscription ended without a message")
            }
            #expect(message.channel == "\(prefix)bo:{st:42}:events")
            #expect(message.pattern == "\(prefix)bo:{st:*}:events")
            #expect(message.text == "{\"version\":3}")
        }
    }

    @Test func unreachableRedisFailsFastWithUnavailable() async throws {
        var configuration = RedisConfiguration(host: "127.0.0.1", port: try await RedisServerProcess.freePort())
        configuration.minimumBackoff = .seconds(5)
        configuration.maximumBackoff = .seconds(5)
        // One connection, so the second call meets the backoff of the first's failure.
        configuration.poolSize = 1
        try await TestRedis.withClient(configuration) { (redis: RedisClient) async throws in
            await #expect { try await redis.ping() } throws: { ($0 as? RedisError)?.code == .unavailable }
            // Within the backoff the next call does not even try to connect: it says when it will.
            await #expect { try await redis.ping() } throws: { error in
                guard let error = error as? RedisError else { return false }
                return error.code == .unavailable && error.message.contains("retrying in")
            }
        }
    }
}

/// Tests that stop and start a redis-server of their own.
@Suite struct RedisClientRecoveryTests {
    @Test func clientRecoversAfterRedisRestarts() async throws {
        try await RedisServerProcess.with { server in
            try await TestRedis.withClient(server.configuration) { (redis: RedisClient) async throws in
                _ = try await redis.send(.set("k", "before"))
                try await server.stop()
                await #expect { try await redis.ping() } throws: { error in
                    let code = (error as? RedisError)?.code
                    return code == .connectionClosed || code == .unavailable
                }
                try await server.start()
                // Later commands succeed once the backoff has passed, without a new client.
                var recovered = false
                for _ in 0..<100 where !recovered {
                    recovered = (try? await redis.ping()) != nil
                    if !recovered { try await Task.sleep(for: .milliseconds(50)) }
                }
                #expect(recovered)
                #expect(try await redis.send(.get("k")) == nil)  // a fresh server without persistence
            }
        }
    }

    @Test func commandsInFlightWhenTheServerDiesFailWithAClearError() async throws {
        try await RedisServerProcess.with { server in
            var configuration = server.configuration
            configuration.poolSize = 1
            try await TestRedis.withClient(configuration) { (redis: RedisClient) async throws in
                try await redis.ping()
                // BLPOP keeps a command in flight until the server goes away.
                let failure = try await withThrowingTaskGroup(of: (any Error)?.self) { group in
                    group.addTask {
                        do {
                            _ = try await redis.send(RedisCommand(["BLPOP", "never", "0"]))
                            return nil
                        } catch {
                            return error
                        }
                    }
                    try await Task.sleep(for: .milliseconds(100))
                    try await server.stop()
                    return try await group.next() ?? nil
                }
                #expect((failure as? RedisError)?.code == .connectionClosed)
            }
        }
    }

    @Test func aCommandWithNoReplyTimesOut() async throws {
        try await RedisServerProcess.with { server in
            var configuration = server.configuration
            // Long enough that a busy test machine answers the PINGs in time; BLPOP never answers.
            configuration.commandTimeout = .seconds(2)
            configuration.poolSize = 1
            try await TestRedis.withClient(configuration) { (redis: RedisClient) async throws in
                try await redis.ping()
                await #expect { _ = try await redis.send(RedisCommand(["BLPOP", "never", "0"])) } throws: {
                    ($0 as? RedisError)?.code == .timeout
                }
                #expect(try await redis.send(.ping()) == "PONG")
            }
        }
    }

    @Test func passwordAndDatabaseFromTheURLAreUsed() async throws {
        try await RedisServerProcess.with(password: "p@ss word") { server in
            let url = "redis://:p%40ss%20word@127.0.0.1:\(server.port)/2"
            try await TestRedis.withClient(try RedisConfiguration(url: url)) { (redis: RedisClient) async throws in
                _ = try await redis.send(.set("where", "db2"))
                let info = try await redis.send(RedisCommand(["CLIENT", "INFO"])).string ?? ""
                #expect(info.contains("db=2"))
            }
            var wrong = try RedisConfiguration(url: "redis://:wrong@127.0.0.1:\(server.port)")
            wrong.poolSize = 1
            try await TestRedis.withClient(wrong) { (redis: RedisClient) async throws in
                await #expect { try await redis.ping() } throws: { ($0 as? RedisError)?.code == .unavailable }
            }
        }
    }
}
