import NIOCore
import Testing

@testable import RedisClient

@Suite struct RESPCodecTests {
    @Test func encodingWritesTheArgumentVectorAsARESPArrayOfBulkStrings() {
        let buffer = RESPEncoder.encode(["SET", "bo:{st:1}:seat:A1", "hold-1", "NX", "PX", "300000"])
        #expect(String(buffer: buffer) == "*6\r\n$3\r\nSET\r\n$17\r\nbo:{st:1}:seat:A1\r\n$6\r\nhold-1\r\n$2\r\nNX\r\n$2\r\nPX\r\n$6\r\n300000\r\n")
    }

    @Test func encodingKeepsEmptyAndMultiByteArguments() {
        let buffer = RESPEncoder.encode(["SET", "", "café"])
        #expect(String(buffer: buffer) == "*3\r\n$3\r\nSET\r\n$0\r\n\r\n$5\r\ncafé\r\n")
    }

    @Test func evalshaCommandPutsTheKeyCountBeforeKeysAndArguments() {
        let command = RedisCommand<RedisReply>.evalsha("abc123", keys: ["k1", "k2"], arguments: ["arg"])
        #expect(command.arguments == ["EVALSHA", "abc123", "2", "k1", "k2", "arg"])
    }

    @Test func setWithNXAndPXBuildsTheExactVector() throws {
        let command = RedisCommand<Bool>.set("k", "v", onlyIfAbsent: true, expireMilliseconds: 1500)
        #expect(command.arguments == ["SET", "k", "v", "NX", "PX", "1500"])
        #expect(try command.decodeReply(.status("OK")) == true)
        #expect(try command.decodeReply(.null) == false)
        #expect(throws: RedisError.self) { try command.decodeReply(.integer(1)) }
    }

    @Test func decodingEveryReplyType() throws {
        let decoder = RESPDecoder()
        decoder.feed(ByteBuffer(string: "+OK\r\n-ERR boom\r\n:42\r\n$5\r\nhello\r\n$-1\r\n*3\r\n:1\r\n$1\r\na\r\n*0\r\n"))
        #expect(try decoder.next() == .status("OK"))
        #expect(try decoder.next() == .error("ERR boom"))
        #expect(try decoder.next() == .integer(42))
        #expect(try decoder.next() == .bulkString(ByteBuffer(string: "hello")))
        #expect(try decoder.next() == .null)
        #expect(try decoder.next() == .array([.integer(1), .bulkString(ByteBuffer(string: "a")), .array([])]))
        #expect(try decoder.next() == nil)
    }

    @Test func decodingAReplySplitAcrossReadsWaitsForTheRest() throws {
        let decoder = RESPDecoder()
        decoder.feed(ByteBuffer(string: "*2\r\n$3\r\nfo"))
        #expect(try decoder.next() == nil)
        decoder.feed(ByteBuffer(string: "o\r\n:7\r\n"))
        #expect(try decoder.next() == .array([.bulkString(ByteBuffer(string: "foo")), .integer(7)]))
    }

    @Test func decodingGarbageIsAProtocolError() {
        let decoder = RESPDecoder()
        decoder.feed(ByteBuffer(string: "?what\r\n"))
        #expect { try decoder.next() } throws: { ($0 as? RedisError)?.code == .protocolError }
    }

    @Test func decodingBinaryBulkStringsKeepsEveryByte() throws {
        let decoder = RESPDecoder()
        var input = ByteBuffer(string: "$3\r\n")
        input.writeBytes([0, 255, 10])
        input.writeString("\r\n")
        decoder.feed(input)
        guard case .bulkString(let payload) = try decoder.next() else {
            Issue.record("expected a bulk string")
            return
        }
        #expect(Array(payload.readableBytesView) == [0, 255, 10])
    }
}

@Suite struct RedisConfigurationTests {
    @Test func urlWithPasswordAndDatabase() throws {
        let configuration = try RedisConfiguration(url: "redis://:s%40cret@cache.local:6380/3")
        #expect(configuration.host == "cache.local")
        #expect(configuration.port == 6380)
        #expect(configuration.password == "s@cret")
        #expect(configuration.database == 3)
        #expect(!configuration.address.contains("cret"))
    }

    @Test func urlDefaults() throws {
        let configuration = try RedisConfiguration(url: "redis://127.0.0.1")
        #expect(configuration.port == 6379)
        #expect(configuration.password == nil)
        #expect(configuration.database == 0)
    }

    @Test(arguments: ["http://localhost:6379", "redis://", "redis://host/abc", "not a url"])
    func badURLsAreRefused(url: String) {
        #expect { try RedisConfiguration(url: url) } throws: { ($0 as? RedisError)?.code == .invalidConfiguration }
    }
}

@Suite struct ConnectionStateMachineTests {
    final class FakeConnection {}

    private func machine() -> ConnectionStateMachine<FakeConnection> {
        ConnectionStateMachine(minimumBackoff: .milliseconds(100), maximumBackoff: .milliseconds(800))
    }

    @Test func firstCallerConnectsAndOthersWait() {
        var machine = machine()
        let now = NIODeadline.uptimeNanoseconds(1_000_000_000)
        guard case .startConnecting = machine.acquire(now: now) else { Issue.record("should connect"); return }
        guard case .waitForConnect = machine.acquire(now: now) else { Issue.record("should wait"); return }
        let connection = FakeConnection()
        let kept = machine.connectSucceeded(connection)
        #expect(kept)
        guard case .use(let used) = machine.acquire(now: now) else { Issue.record("should use"); return }
        #expect(used === connection)
    }

    @Test func failuresBackOffExponentiallyUpToTheMaximum() {
        let machine = machine()
        #expect(machine.backoff(afterFailures: 1) == .milliseconds(100))
        #expect(machine.backoff(afterFailures: 2) == .milliseconds(200))
        #expect(machine.backoff(afterFailures: 4) == .milliseconds(800))
        #expect(machine.backoff(afterFailures: 30) == .milliseconds(800))
    }

    @Test func duringBackoffCallersFailAtOnceAndAfterItTheyReconnect() {
        var machine = machine()
        let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
        _ = machine.acquire(now: start)
        machine.connectFailed(now: start)
        guard case .failUnavailable = machine.acquire(now: start + .milliseconds(50)) else {
            Issue.record("should refuse during backoff"); return
        }
        guard case .startConnecting = machine.acquire(now: start + .milliseconds(150)) else {
            Issue.record("should retry after backoff"); return
        }
    }

    @Test func aClosedConnectionIsReplacedOnTheNextCall() {
        var machine = machine()
        let now = NIODeadline.uptimeNanoseconds(1_000_000_000)
        _ = machine.acquire(now: now)
        let connection = FakeConnection()
        _ = machine.connectSucceeded(connection)
        machine.connectionClosed(FakeConnection())  // another connection: ignored
        guard case .use = machine.acquire(now: now) else { Issue.record("should still use"); return }
        machine.connectionClosed(connection)
        guard case .startConnecting = machine.acquire(now: now) else { Issue.record("should reconnect"); return }
    }

    @Test func afterShutdownNothingConnects() {
        var machine = machine()
        #expect(machine.shutdown() == nil)
        guard case .failShutdown = machine.acquire(now: .now()) else { Issue.record("should refuse"); return }
    }
}
