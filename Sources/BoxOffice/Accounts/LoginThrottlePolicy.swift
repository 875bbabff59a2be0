/// The sign-in throttle's rules, as a pure value (after OWASP's authentication and
/// credential-stuffing guidance): nobody can lock someone else out.
///
/// - One client failing for one account is blocked quickly (`clientAccountLimit` failures).
/// - One account failing from many clients (a distributed guess) slows down only the clients
///   that failed for it, with a delay that doubles per failure past `accountDelayAfter`; a
///   client that has not itself failed for the account is never refused because of others.
/// - One client failing across many accounts (stuffing) is blocked at its own, higher limit
///   (`clientLimit`), high enough that one office or carrier gateway does not lock its users.
public struct LoginThrottlePolicy: Sendable, Equatable {
    public var clientAccountLimit: Int
    public var clientLimit: Int
    public var accountDelayAfter: Int
    public var firstDelay: Duration
    public var longestDelay: Duration
    /// How long failures are remembered.
    public var window: Duration

    public init(
        clientAccountLimit: Int = 5, clientLimit: Int = 50, accountDelayAfter: Int = 10,
        firstDelay: Duration = .seconds(1), longestDelay: Duration = .seconds(60), window: Duration = .seconds(900)
    ) {
        self.clientAccountLimit = clientAccountLimit
        self.clientLimit = clientLimit
        self.accountDelayAfter = accountDelayAfter
        self.firstDelay = firstDelay
        self.longestDelay = longestDelay
        self.window = window
    }

    /// What the counters say now; times in milliseconds of Redis' clock.
    public struct Counts: Sendable, Equatable {
        /// This client's failures for this account, when the last was, and when they are forgotten.
        public var clientAccount = 0
        public var clientAccountLastFailure: Int64 = 0
        public var clientAccountExpiresIn: Int64 = 0
        /// The account's failures from every client.
        public var account = 0
        /// This client's failures for every account.
        public var client = 0
        public var clientExpiresIn: Int64 = 0
        public var now: Int64 = 0

        public init(
            clientAccount: Int = 0, clientAccountLastFailure: Int64 = 0, clientAccountExpiresIn: Int64 = 0, account: Int = 0,
            client: Int = 0, clientExpiresIn: Int64 = 0, now: Int64 = 0
        ) {
            self.clientAccount = clientAccount
            self.clientAccountLastFailure = clientAccountLastFailure
            self.clientAccountExpiresIn = clientAccountExpiresIn
            self.account = account
            self.client = client
            self.clientExpiresIn = clientExpiresIn
            self.now = now
        }
    }

    public enum Decision: Sendable, Equatable {
        case allowed
        /// Refused for this long (what `Retry-After` says), and why.
        case wait(milliseconds: Int64, Reason)
    }

    public enum Reason: String, Sendable {
        /// This client failed too often for this account.
        case clientAccount = "client_account"
        /// This client failed too often across accounts.
        case client
        /// The account is under a distributed guess, and this client is one of the guessers.
        case accountDelay = "account_delay"
    }

    /// Allowed, or the longest of the waits that apply: `Retry-After` is honest, an attempt
    /// after it is not refused again by another rule.
    public func decide(_ counts: Counts) -> Decision {
        var waits: [(milliseconds: Int64, reason: Reason)] = []
        if counts.client >= clientLimit { waits.append((max(1, counts.clientExpiresIn), .client)) }
        if counts.clientAccount >= clientAccountLimit { waits.append((max(1, counts.clientAccountExpiresIn), .clientAccount)) }
        if counts.clientAccount > 0, counts.account >= accountDelayAfter {
            let remaining = counts.clientAccountLastFailure + delay(afterAccountFailures: counts.account).milliseconds - counts.now
            if remaining > 0 { waits.append((remaining, .accountDelay)) }
        }
        guard let longest = waits.max(by: { $0.milliseconds < $1.milliseconds }) else { return .allowed }
        return .wait(milliseconds: longest.milliseconds, longest.reason)
    }

    /// The pause a failing client must keep between attempts while the account has `failures`.
    public func delay(afterAccountFailures failures: Int) -> Duration {
        guard failures >= accountDelayAfter else { return .zero }
        let doublings = min(failures - accountDelayAfter, 30)
        return min(firstDelay * (1 << doublings), longestDelay)
    }
}
