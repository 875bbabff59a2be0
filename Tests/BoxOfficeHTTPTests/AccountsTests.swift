import BoxOffice
import BoxOfficeHTTP
import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import NIOCore
import PostgresClient
import RedisClient
import Testing

/// Sign-up, sign-in, sessions, roles and login throttling, over HTTP.
@Suite(.serialized) struct AccountsTests {
    /// An email no other test (or earlier run) uses: the throttle's counters live in the shared Redis.
    private func freshEmail(_ tag: String = "user") -> String {
        "\(tag)-\(UUID().uuidString.prefix(12).lowercased())@example.com"
    }

    private func signUp(_ app: TestApp, email: String, password: String = "correct-horse-battery") async throws -> [String: Any] {
        let response = try await app.request(.post, "/auth/signup", json: """
            {"email": "\(email)", "password": "\(password)", "name": "Ada Lovelace"}
            """)
        #expect(response.status == .created)
        return try response.json()
    }

    private func logIn(_ app: TestApp, email: String, password: String) async throws -> TestResponse {
        try await app.request(.post, "/auth/login", json: """
            {"email": "\(email)", "password": "\(password)"}
            """)
    }

    private func refresh(_ app: TestApp, _ token: String) async throws -> TestResponse {
        try await app.request(.post, "/auth/refresh", json: #"{"refresh_token": "\#(token)"}"#)
    }

    private func me(_ app: TestApp, accessToken: String) async throws -> TestResponse {
        try await app.request(.get, "/me", headers: [.authorization: "Bearer \(accessToken)"])
    }

    // MARK: - Sign-up and sign-in

    @Test func signingUpThenLoggingInGivesTokensThatShowTheAccountAtMe() async throws {
        try await TestApp.run { app in
            let email = freshEmail()
            // Typed with capitals and spaces: stored normalised.
            let signup = try await signUp(app, email: "  \(email.uppercased()) ")
            #expect(signup["token_type"] as? String == "Bearer")
            #expect((signup["expires_in"] as? Int ?? 0) > 0)
            #expect((signup["refresh_token"] as? String)?.isEmpty == false)
            let user = signup["user"] as? [String: Any]
            #expect(user?["email"] as? String == email)
            #expect(user?["role"] as? String == "user")
            #expect(user?["password_hash"] == nil)

            let login = try await logIn(app, email: email.uppercased(), password: "correct-horse-battery")
            #expect(login.status == .ok)
            let body = try login.json()
            let access = try #require(body["access_token"] as? String)
            #expect(body["refresh_token"] as? String != signup["refresh_token"] as? String)

            let response = try await me(app, accessToken: access)
            #expect(response.status == .ok)
            let account = try response.json()
            #expect(account["email"] as? String == email)
            #expect(account["name"] as? String == "Ada Lovelace")
            #expect(account["id"] as? String == user?["id"] as? String)
        }
    }

    @Test func passwordsAreStoredAsBcryptHashes() async throws {
        try await TestApp.run { app in
            let email = freshEmail()
            _ = try await signUp(app, email: email, password: "correct-horse-battery")
            let hash = try await app.dependencies.postgres.query("SELECT password_hash FROM users WHERE email = \(email)")
                .first!.decode(String.self, column: "password_hash")
            #expect(hash.hasPrefix("$2"))
            #expect(!hash.contains("correct-horse-battery"))
        }
    }

    @Test func aShortPasswordIs422NamingThePasswordField() async throws {
        try await TestApp.run { app in
            let response = try await app.request(.post, "/auth/signup", json: """
                {"email": "\(freshEmail())", "password": "short", "name": "Ada"}
                """)
            #expect(response.status == .unprocessableContent)
            #expect(response.headers[.contentType] == "application/problem+json")
            #expect(response.problemCode == "validation_failed")
            let errors = try response.json()["errors"] as? [[String: Any]] ?? []
            let password = errors.first { $0["field"] as? String == "password" }
            #expect((password?["message"] as? String)?.contains("at least 10") == true)
        }
    }

    @Test func aPasswordPastBcryptsSeventyTwoBytesCountsInFullAndOneOverTheLimitIs422() async throws {
        try await TestApp.run { app in
            // 100 characters, 200 bytes: bcrypt alone would read only the first 72 bytes.
            let long = String(repeating: "é", count: 99) + "1"
            let email = freshEmail()
            _ = try await signUp(app, email: email, password: long)
            #expect(try await logIn(app, email: email, password: long).status == .ok)
            let sameStart = String(repeating: "é", count: 99) + "2"
            #expect(try await logIn(app, email: email, password: sameStart).status == .unauthorized)

            let tooLong = try await app.request(.post, "/auth/signup", json: """
                {"email": "\(freshEmail())", "password": "\(String(repeating: "a", count: 257))", "name": "Ada"}
                """)
            #expect(tooLong.status == .unprocessableContent)
            #expect(tooLong.problemFields == ["password"])
        }
    }

    @Test func anImplausibleEmailAndAnEmptyNameAreBothNamed() async throws {
        try await TestApp.run { app in
            let response = try await app.request(.post, "/auth/signup", json: """
                {"email": "not-an-email", "password": "long-enough-password", "name": "   "}
                """)
            #expect(response.status == .unprocessableContent)
            let fields = Set((try response.json()["errors"] as? [[String: Any]] ?? []).compactMap { $0["field"] as? String })
            #expect(fields == ["email", "name"])
        }
    }

    @Test func signingUpTwiceWithTheSameEmailInAnotherCaseIs409() async throws {
        try await TestApp.run { app in
            let email = freshEmail()
            _ = try await signUp(app, email: email)
            let again = try await app.request(.post, "/auth/signup", json: """
                {"email": "\(email.uppercased())", "password": "another-password", "name": "Someone"}
                """)
            #expect(again.status == .conflict)
            #expect(again.problemCode == "email_taken")
        }
    }

    @Test func aWrongPasswordAndAnUnknownEmailFailAlike() async throws {
        try await TestApp.run { app in
            let email = freshEmail()
            _ = try await signUp(app, email: email)
            let wrong = try await logIn(app, email: email, password: "not-the-password")
            let unknown = try await logIn(app, email: freshEmail(), password: "not-the-password")
            #expect(wrong.status == .unauthorized)
            #expect(unknown.status == .unauthorized)
            #expect(wrong.problemCode == "invalid_credentials")
            #expect(unknown.problemCode == "invalid_credentials")
        }
    }

    @Test func anEmailWithANULCharacterFailsToSignInLikeAnyUnknownEmail() async throws {
        try await TestApp.run { app in
            // An email of its own: failed sign-ins are counted per email in the shared Redis across runs.
            let local = UUID().uuidString.prefix(8).lowercased()
            let response = try await app.request(
                .post, "/auth/login", json: #"{"email": "\#(local)\u0000@example.com", "password": "whatever-it-is"}"#
            )
            #expect(response.status == .unauthorized)
            #expect(response.problemCode == "invalid_credentials")
        }
    }

    @Test func meWithoutATokenIs401AndWithAForgedTokenToo() async throws {
        try await TestApp.run { app in
            let anonymous = try await app.request(.get, "/me")
            #expect(anonymous.status == .unauthorized)
            #expect(anonymous.problemCode == "unauthorized")
            let forged = try await me(app, accessToken: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.bm90LWEtc2lnbmF0dXJl")
            #expect(forged.status == .unauthorized)
            #expect(forged.headers[.contentType] == "application/problem+json")
        }
    }

    @Test func aValidTokenWhoseAccountIsGoneIs401() async throws {
        try await TestApp.run { app in
            let user = try await app.makeUser()
            #expect(try await app.request(.get, "/me", as: user).status == .ok)
            try await app.dependencies.postgres.query("DELETE FROM users WHERE id = \(user.id)")
            let gone = try await app.request(.get, "/me", as: user)
            #expect(gone.status == .unauthorized)
            #expect(gone.problemCode == "invalid_token")
        }
    }

    @Test func aBodyWithAMissingOrMistypedFieldIsAProblemNamingTheField() async throws {
        try await TestApp.run { app in
            let response = try await app.request(.post, "/auth/login", json: #"{"email": "a@example.com"}"#)
            #expect(response.status == .badRequest)
            #expect(response.problemCode == "invalid_body")
            #expect((try response.json()["detail"] as? String)?.contains("password") == true)
            #expect(response.problemFields == ["password"])
            let wrongType = try await app.request(.post, "/auth/signup", json: #"{"email": "a@example.com", "password": 12345678901, "name": "A"}"#)
            #expect(wrongType.problemCode == "invalid_body")
            #expect(wrongType.problemFields == ["password"])
            let notJSON = try await app.request(.post, "/auth/signup", json: "{not json")
            #expect(notJSON.status == .badRequest)
            #expect(notJSON.problemFields.isEmpty)
        }
    }

    @Test func aJSONBodyOverTheLimitIs413() async throws {
        try await TestApp.run { app in
            let name = String(repeating: "x", count: 1024 * 1024 + 1)
            let response = try await app.request(.post, "/auth/signup", json: """
                {"email": "\(freshEmail())", "password": "long-enough-password", "name": "\(name)"}
                """)
            #expect(response.status == .contentTooLarge)
            #expect(response.problemCode == "body_too_large")
        }
    }

    // MARK: - Refresh tokens

    @Test func refreshingRotatesTheRefreshTokenAndGivesAWorkingAccessToken() async throws {
        try await TestApp.run { app in
            let email = freshEmail()
            let first = try #require(try await signUp(app, email: email)["refresh_token"] as? String)
            let response = try await refresh(app, first)
            #expect(response.status == .ok)
            let body = try response.json()
            let second = try #require(body["refresh_token"] as? String)
            #expect(second != first)
            let access = try #require(body["access_token"] as? String)
            #expect(try await me(app, accessToken: access).status == .ok)

            // Stored only as a hash: neither token appears in the table.
            let stored = try await app.dependencies.postgres.query("""
                SELECT count(*) AS n FROM refresh_tokens WHERE token_hash IN (\(first), \(second))
                """).first!.decode(Int.self, column: "n")
            #expect(stored == 0)
            // The new token works once more.
            #expect(try await refresh(app, second).status == .ok)
        }
    }

    @Test func reusingARotatedRefreshTokenRevokesTheWholeFamily() async throws {
        try await TestApp.run { app in
            let first = try #require(try await signUp(app, email: freshEmail())["refresh_token"] as? String)
            let second = try #require(try await refresh(app, first).json()["refresh_token"] as? String)

            let replay = try await refresh(app, first)
            #expect(replay.status == .unauthorized)
            #expect(replay.problemCode == "refresh_token_reused")
            // The legitimate holder's newer token is gone with the family.
            let afterReplay = try await refresh(app, second)
            #expect(afterReplay.status == .unauthorized)
            #expect(afterReplay.problemCode == "invalid_refresh_token")
        }
    }

    @Test func revokingOneFamilyLeavesOtherSessionsAlone() async throws {
        try await TestApp.run { app in
            let email = freshEmail()
            let phone = try #require(try await signUp(app, email: email)["refresh_token"] as? String)
            let laptop = try #require(try await logIn(app, email: email, password: "correct-horse-battery").json()["refresh_token"] as? String)
            _ = try await refresh(app, phone)
            _ = try await refresh(app, phone)  // reuse: the phone's family is revoked
            #expect(try await refresh(app, laptop).status == .ok)
        }
    }

    @Test func anUnknownRefreshTokenIs401() async throws {
        try await TestApp.run { app in
            let response = try await refresh(app, "no-such-token")
            #expect(response.status == .unauthorized)
            #expect(response.problemCode == "invalid_refresh_token")
        }
    }

    @Test func loggingOutEndsTheSessionOfTheRefreshToken() async throws {
        try await TestApp.run { app in
            let token = try #require(try await signUp(app, email: freshEmail())["refresh_token"] as? String)
            let logout = try await app.request(.post, "/auth/logout", json: #"{"refresh_token": "\#(token)"}"#)
            #expect(logout.status == .noContent)
            let response = try await refresh(app, token)
            #expect(response.status == .unauthorized)
            #expect(response.problemCode == "invalid_refresh_token")
        }
    }

    // MARK: - Roles

    @Test func anAdminPromotesAUserWhoSeesTheRoleAfterRefreshing() async throws {
        try await TestApp.run { app in
            let admin = try await app.makeUser(role: .admin)
            let signup = try await signUp(app, email: freshEmail())
            let id = try #require((signup["user"] as? [String: Any])?["id"] as? String)
            let token = try #require(signup["refresh_token"] as? String)

            let response = try await app.request(.put, "/admin/users/\(id)/role", as: admin, json: #"{"role": "admin"}"#)
            #expect(response.status == .ok)
            #expect(try response.json()["role"] as? String == "admin")

            let refreshed = try await refresh(app, token).json()
            #expect((refreshed["user"] as? [String: Any])?["role"] as? String == "admin")
            let access = try #require(refreshed["access_token"] as? String)
            let users = try await app.request(.get, "/admin/users", headers: [.authorization: "Bearer \(access)"])
            #expect(users.status == .ok)
        }
    }

    @Test func onlyAdminsChangeRoles() async throws {
        try await TestApp.run { app in
            let user = try await app.makeUser(role: .user)
            let staff = try await app.makeUser(role: .staff)
            let path = "/admin/users/\(user.id)/role"
            let anonymous = try await app.request(.put, path, json: #"{"role": "admin"}"#)
            #expect(anonymous.status == .unauthorized)
            let selfPromotion = try await app.request(.put, path, as: user, json: #"{"role": "admin"}"#)
            #expect(selfPromotion.status == .forbidden)
            #expect(selfPromotion.problemCode == "forbidden")
            #expect(try await app.request(.put, path, as: staff, json: #"{"role": "admin"}"#).status == .forbidden)
            let role = try await app.dependencies.postgres.query("SELECT role FROM users WHERE id = \(user.id)")
                .first!.decode(String.self, column: "role")
            #expect(role == "user")
        }
    }

    @Test func theLastAdminCannotBeDemotedButOneOfTwoCan() async throws {
        try await TestApp.run { app in
            let admin = try await app.makeUser(role: .admin)
            let refused = try await app.request(.put, "/admin/users/\(admin.id)/role", as: admin, json: #"{"role": "user"}"#)
            #expect(refused.status == .conflict)
            #expect(refused.problemCode == "last_admin")

            let other = try await app.makeUser(role: .admin)
            let cinema = try await app.defaultCinema()
            let demoted = try await app.request(.put, "/admin/users/\(admin.id)/role", as: admin, json: #"{"role": "staff", "cinema_id": \#(cinema)}"#)
            #expect(demoted.status == .ok)
            #expect(try demoted.json()["role"] as? String == "staff")
            // Now `other` is the last one.
            let last = try await app.request(.put, "/admin/users/\(other.id)/role", as: other, json: #"{"role": "user"}"#)
            #expect(last.problemCode == "last_admin")
        }
    }

    @Test func anUnknownRoleIs422AndAnUnknownUser404() async throws {
        try await TestApp.run { app in
            let admin = try await app.makeUser(role: .admin)
            let bad = try await app.request(.put, "/admin/users/\(admin.id)/role", as: admin, json: #"{"role": "owner"}"#)
            #expect(bad.status == .unprocessableContent)
            #expect((try bad.json()["errors"] as? [[String: Any]])?.first?["field"] as? String == "role")
            let missing = try await app.request(.put, "/admin/users/\(UUID())/role", as: admin, json: #"{"role": "user"}"#)
            #expect(missing.status == .notFound)
            let notAnID = try await app.request(.put, "/admin/users/42/role", as: admin, json: #"{"role": "user"}"#)
            #expect(notAnID.status == .notFound)
        }
    }

    @Test func adminsListUsersWithSearchAndPaging() async throws {
        try await TestApp.run { app in
            let admin = try await app.makeUser(role: .admin)
            for index in 0..<3 { _ = try await app.makeUser(email: "film-fan-\(index)@cinema.example") }
            _ = try await app.makeUser(email: "someone@else.example")

            let search = try await app.request(.get, "/admin/users?q=FILM-FAN&limit=2", as: admin).json()
            #expect(search["total"] as? Int == 3)
            let firstPage = (search["items"] as? [[String: Any]] ?? []).compactMap { $0["email"] as? String }
            #expect(firstPage == ["film-fan-0@cinema.example", "film-fan-1@cinema.example"])
            let second = try await app.request(.get, "/admin/users?q=film-fan&limit=2&offset=2", as: admin).json()
            #expect((second["items"] as? [[String: Any]] ?? []).compactMap { $0["email"] as? String } == ["film-fan-2@cinema.example"])

            // LIKE's wildcards are taken literally.
            let wildcard = try await app.request(.get, "/admin/users?q=%25", as: admin).json()
            #expect(wildcard["total"] as? Int == 0)

            let admins = try await app.request(.get, "/admin/users?role=admin", as: admin).json()
            #expect((admins["items"] as? [[String: Any]] ?? []).compactMap { $0["email"] as? String } == [admin.email])

            let badPage = try await app.request(.get, "/admin/users?limit=0", as: admin)
            #expect(badPage.status == .unprocessableContent)
            #expect((try badPage.json()["errors"] as? [[String: Any]])?.first?["field"] as? String == "limit")
        }
    }

    @Test func adminRoutesAre401WithoutATokenAnd403ForAPlainUser() async throws {
        try await TestApp.run { app in
            let user = try await app.makeUser(role: .user)
            let routes: [(HTTPRequest.Method, String)] = [
                (.get, "/admin/users"), (.put, "/admin/users/\(user.id)/role"),
                (.post, "/admin/genres"), (.put, "/admin/genres/1"), (.delete, "/admin/genres/1"),
                (.post, "/admin/movies"), (.put, "/admin/movies/1"), (.delete, "/admin/movies/1"),
                (.put, "/admin/movies/1/poster"),
                (.get, "/admin/halls"), (.post, "/admin/halls"), (.put, "/admin/halls/1"), (.delete, "/admin/halls/1"),
                (.post, "/admin/showtimes"), (.put, "/admin/showtimes/1"), (.post, "/admin/showtimes/1/cancel"),
            ]
            for (method, path) in routes {
                let anonymous = try await app.request(method, path, json: "{}")
                #expect(anonymous.status == .unauthorized, "\(method) \(path) without a token")
                #expect(anonymous.headers[.contentType] == "application/problem+json", "\(method) \(path)")
                let plain = try await app.request(method, path, as: user, json: "{}")
                #expect(plain.status == .forbidden, "\(method) \(path) as a user")
                #expect(plain.problemCode == "forbidden", "\(method) \(path) as a user")
            }
        }
    }

    // MARK: - The first admin

    @Test func theConfiguredAdminIsCreatedOnceAndCanSignIn() async throws {
        try await TestApp.run { app in
            var settings = app.dependencies.settings
            settings.bcryptCost = 4
            let admins = AdminAccounts(postgres: app.dependencies.postgres, settings: settings)
            let email = freshEmail("admin")
            let created = try await admins.ensureAdmin(email: email.uppercased(), password: "admin-password-1")
            guard case .created(let account) = created else {
                Issue.record("expected a new admin, got \(created)")
                return
            }
            #expect(account.role == .admin)
            #expect(account.email == email)
            // Again: nothing changes, and the password stays the first one.
            let again = try await admins.ensureAdmin(email: email, password: "another-password-2")
            #expect(again == .alreadyAdmin(account))
            #expect(try await logIn(app, email: email, password: "admin-password-1").status == .ok)
            #expect(try await logIn(app, email: email, password: "another-password-2").status == .unauthorized)
        }
    }

    @Test func theConfiguredAdminEmailPromotesAnExistingAccount() async throws {
        try await TestApp.run { app in
            let email = freshEmail()
            _ = try await signUp(app, email: email, password: "my-own-password")
            let outcome = try await AdminAccounts(postgres: app.dependencies.postgres, settings: app.dependencies.settings)
                .ensureAdmin(email: email, password: "ignored-password")
            guard case .promoted(let account) = outcome else {
                Issue.record("expected a promotion, got \(outcome)")
                return
            }
            #expect(account.role == .admin)
            #expect(try await logIn(app, email: email, password: "my-own-password").status == .ok)
        }
    }

    // MARK: - Throttling

    @Test func repeatedFailuresForOneEmailAre429WithRetryAfter() async throws {
        try await TestApp.run { app in
            let email = freshEmail()
            _ = try await signUp(app, email: email, password: "correct-horse-battery")
            let limit = app.dependencies.settings.loginThrottle.clientAccountLimit
            for _ in 0..<limit {
                #expect(try await logIn(app, email: email, password: "wrong-password").status == .unauthorized)
            }
            // Even the right password is refused until the window ends.
            let throttled = try await logIn(app, email: email.uppercased(), password: "correct-horse-battery")
            #expect(throttled.status == .tooManyRequests)
            #expect(throttled.problemCode == "too_many_attempts")
            #expect(throttled.headers[.contentType] == "application/problem+json")
            let retryAfter = try #require(throttled.headers[.retryAfter].flatMap { Int($0) })
            #expect(retryAfter > 0)
            #expect(retryAfter <= Int(app.dependencies.settings.loginThrottle.window.components.seconds))

            // Another account is not affected.
            let other = freshEmail()
            _ = try await signUp(app, email: other, password: "correct-horse-battery")
            #expect(try await logIn(app, email: other, password: "correct-horse-battery").status == .ok)
        }
    }

    @Test func aSuccessfulLoginForgivesEarlierFailuresOfTheEmail() async throws {
        try await TestApp.run { app in
            let email = freshEmail()
            _ = try await signUp(app, email: email, password: "correct-horse-battery")
            let limit = app.dependencies.settings.loginThrottle.clientAccountLimit
            for _ in 0..<(limit - 1) { _ = try await logIn(app, email: email, password: "wrong-password") }
            #expect(try await logIn(app, email: email, password: "correct-horse-battery").status == .ok)
            for _ in 0..<(limit - 1) { _ = try await logIn(app, email: email, password: "wrong-password") }
            #expect(try await logIn(app, email: email, password: "correct-horse-battery").status == .ok)
        }
    }

    /// Over a real socket, a failed login counts against the peer's address. The counter is
    /// shared with every other client on 127.0.0.1, so the test takes back its own failure.
    @Test func aFailedLoginOverTheNetworkCountsAgainstThePeersAddress() async throws {
        try await TestServices.withDatabase { configuration in
            try await TestServices.withDependencies(postgres: configuration) { dependencies in
                let settings = ServerSettings(host: "127.0.0.1", port: 0, openAPIPath: TestServices.serverSettings.openAPIPath)
                let app = buildApplication(dependencies, settings: settings, logger: Logger(label: "test"))
                let key = "bo:login-fail:addr:127.0.0.1"
                try await app.test(.live) { client in
                    let before = try await dependencies.redis.send(.get(key)).flatMap { Int($0) } ?? 0
                    let response = try await client.execute(
                        uri: "/auth/login", method: .post, headers: [.contentType: "application/json"],
                        body: ByteBuffer(string: #"{"email": "\#(freshEmail())", "password": "wrong-password"}"#)
                    )
                    #expect(response.status == .unauthorized)
                    let after = try await dependencies.redis.send(.get(key)).flatMap { Int($0) } ?? 0
                    #expect(after >= before + 1)
                    _ = try? await dependencies.redis.send(RedisCommand(["DECR", key]))
                }
            }
        }
    }

    /// Behind a trusted proxy (here the test's own 127.0.0.1), failures count against the
    /// address the proxy names in `X-Forwarded-For` (the one on its left is the client's own
    /// claim, and ignored).
    @Test func behindATrustedProxyAFailedLoginCountsAgainstTheForwardedAddress() async throws {
        try await TestServices.withDatabase { configuration in
            try await TestServices.withDependencies(postgres: configuration) { dependencies in
                let settings = ServerSettings(
                    host: "127.0.0.1", port: 0, openAPIPath: TestServices.serverSettings.openAPIPath,
                    trustedProxies: [try #require(IPAddressRange("127.0.0.1"))]
                )
                let app = buildApplication(dependencies, settings: settings, logger: Logger(label: "test"))
                let network = "2001:db8:\(String(UInt16.random(in: 1...UInt16.max), radix: 16))"
                let client = network + ":7::1"
                let clientKey = "bo:login-fail:addr:" + network + ":7::/64"  // IPv6 counts by /64
                try await app.test(.live) { http in
                    let response = try await http.execute(
                        uri: "/auth/login", method: .post,
                        headers: [.contentType: "application/json", HTTPField.Name("X-Forwarded-For")!: "198.51.100.1, \(client)"],
                        body: ByteBuffer(string: #"{"email": "\#(freshEmail())", "password": "wrong-password"}"#)
                    )
                    #expect(response.status == .unauthorized)
                    #expect(try await dependencies.redis.send(.get(clientKey)).flatMap { Int($0) } == 1)
                    _ = try? await dependencies.redis.send(.del([clientKey]))
                }
            }
        }
    }

    /// The router test client has no peer address, so the per-address counter is proven on
    /// the service with an address from a documentation range no real client has.
    @Test func repeatedFailuresFromOneClientAddressAre429AcrossEmails() async throws {
        try await TestApp.run { app in
            let service = AccountService(
                postgres: app.dependencies.postgres, redis: app.dependencies.redis,
                settings: app.dependencies.settings, logger: Logger(label: "test.accounts")
            )
            let address = "2001:db8::\(String(UInt16.random(in: 1...UInt16.max), radix: 16)):\(String(UInt16.random(in: 1...UInt16.max), radix: 16))"
            for _ in 0..<app.dependencies.settings.loginThrottle.clientLimit {
                await #expect(throws: BoxOfficeError.self) {
                    _ = try await service.logIn(email: freshEmail(), password: "whatever-it-is", clientAddress: address)
                }
            }
            do {
                _ = try await service.logIn(email: freshEmail(), password: "whatever-it-is", clientAddress: address)
                Issue.record("a fresh email from a throttled address was let through")
            } catch let error as BoxOfficeError {
                #expect(error.code == "too_many_attempts")
            }
            _ = try? await app.dependencies.redis.send(.del(["bo:login-fail:addr:" + address]))
        }
    }
}
