import BoxOffice
import BoxOfficeHTTP
import Foundation
import HummingbirdTesting
import Logging
import NIOCore
import NIOPosix
import Testing

/// Sign-in throttling over real sockets, each client with a loopback address of its own
/// (127.0.0.0/8 is all loopback on Linux): nobody can lock out someone else.
@Suite struct LoginThrottleTests {
    struct Answer {
        var status: Int
        var retryAfter: Int?
        var code: String?
    }

    /// A random loopback address, so that concurrent tests never share a client.
    static func clientAddress() -> String {
        "127.\(Int.random(in: 1...254)).\(Int.random(in: 1...254)).\(Int.random(in: 1...254))"
    }

    /// Sends one HTTP/1.1 POST with a JSON body from `source` to the server at `port`.
    static func post(from source: String, port: Int, path: String, json: String) async throws -> Answer {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(to: try SocketAddress(ipAddress: source, port: 0))
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let text = try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: """
                POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(json.utf8.count)\r\n\
                Connection: close\r\n\r\n\(json)
                """))
            var text = ""
            for try await chunk in inbound { text += String(buffer: chunk) }
            return text
        }
        let lines = text.components(separatedBy: "\r\n")
        let status = lines.first.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
        let retryAfter = lines.first { $0.lowercased().hasPrefix("retry-after:") }.flatMap { Int($0.dropFirst(12).trimmingCharacters(in: .whitespaces)) }
        let body = text.components(separatedBy: "\r\n\r\n").dropFirst().joined()
        let code = (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["code"] as? String
        return Answer(status: status, retryAfter: retryAfter, code: code)
    }

    /// An application listening on a port of its own, with `policy`, and an account to attack.
    static func withServer(
        _ policy: LoginThrottlePolicy, _ body: @Sendable (_ port: Int, _ email: String) async throws -> Void
    ) async throws {
        try await TestServices.withDatabase { configuration in
            try await TestServices.withDependencies(postgres: configuration, configure: { $0.loginThrottle = policy }) { dependencies in
                let settings = ServerSettings(host: "127.0.0.1", port: 0, openAPIPath: TestServices.serverSettings.openAPIPath)
                let app = buildApplication(dependencies, settings: settings, logger: Logger(label: "test"))
                try await app.test(.live) { client in
                    let port = try #require(client.port)
                    let email = "victim-\(UUID().uuidString.prefix(8).lowercased())@example.com"
                    let signUp = try await post(from: clientAddress(), port: port, path: "/auth/signup",
                                                json: #"{"email": "\#(email)", "password": "correct-horse-battery", "name": "Victim"}"#)
                    #expect(signUp.status == 201)
                    try await body(port, email)
                }
            }
        }
    }

    static func logIn(_ email: String, _ password: String, from source: String, port: Int) async throws -> Answer {
        try await post(from: source, port: port, path: "/auth/login", json: #"{"email": "\#(email)", "password": "\#(password)"}"#)
    }

    @Test func aStrangersFailuresForAnAccountBlockOnlyTheStrangerNotItsOwner() async throws {
        try await Self.withServer(LoginThrottlePolicy(clientAccountLimit: 5)) { port, email in
            let (attacker, owner) = (Self.clientAddress(), Self.clientAddress())
            for _ in 0..<5 { #expect(try await Self.logIn(email, "wrong-password", from: attacker, port: port).status == 401) }
            let blocked = try await Self.logIn(email, "correct-horse-battery", from: attacker, port: port)
            #expect(blocked.status == 429, "the stranger is blocked, even with the right password")
            #expect(blocked.code == "too_many_attempts")
            #expect((1...900).contains(blocked.retryAfter ?? 0))
            #expect(try await Self.logIn(email, "correct-horse-battery", from: owner, port: port).status == 200, "the owner is not")
        }
    }

    @Test func aDistributedGuessSlowsTheGuessersWhileTheOwnerSignsIn() async throws {
        let policy = LoginThrottlePolicy(clientAccountLimit: 5, accountDelayAfter: 4, firstDelay: .seconds(1), longestDelay: .seconds(2))
        try await Self.withServer(policy) { port, email in
            let guessers = (0..<6).map { _ in Self.clientAddress() }
            for guesser in guessers {
                #expect(try await Self.logIn(email, "wrong-password", from: guesser, port: port).status == 401)
            }
            // A guesser that tries again at once is told to wait, honestly.
            let slowed = try await Self.logIn(email, "wrong-password", from: guessers[5], port: port)
            #expect(slowed.status == 429)
            let wait = try #require(slowed.retryAfter)
            #expect((1...2).contains(wait))
            // The owner, who never failed, is never refused while the guess goes on.
            #expect(try await Self.logIn(email, "correct-horse-battery", from: Self.clientAddress(), port: port).status == 200)
            // After Retry-After the guesser may try again (and fails on the password, not the throttle).
            try await Task.sleep(for: .seconds(wait))
            #expect(try await Self.logIn(email, "wrong-password", from: guessers[5], port: port).status == 401)
        }
    }

    @Test func oneAddressFailingForManyAccountsIsBlockedAtItsOwnHigherLimitNotBefore() async throws {
        try await Self.withServer(LoginThrottlePolicy(clientAccountLimit: 5, clientLimit: 8)) { port, email in
            let office = Self.clientAddress()
            // Colleagues behind one gateway mistype their own passwords: fewer than the limit.
            for _ in 0..<7 {
                let someone = "colleague-\(UUID().uuidString.prefix(8).lowercased())@example.com"
                #expect(try await Self.logIn(someone, "wrong-password", from: office, port: port).status == 401)
            }
            #expect(try await Self.logIn(email, "correct-horse-battery", from: office, port: port).status == 200)
            // Stuffing from that address goes on: at its own limit it is blocked, for every account.
            _ = try await Self.logIn("one-more@example.com", "wrong-password", from: office, port: port)
            let blocked = try await Self.logIn(email, "correct-horse-battery", from: office, port: port)
            #expect(blocked.status == 429)
            #expect(try await Self.logIn(email, "correct-horse-battery", from: Self.clientAddress(), port: port).status == 200)
        }
    }
}
