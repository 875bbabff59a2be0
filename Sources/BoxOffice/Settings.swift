public import Foundation

/// The rules a cinema configures. Defaults suit development; `boxoffice serve` reads them
/// from the environment.
public struct BoxOfficeSettings: Sendable {
    /// How long a seat hold lasts.
    public var holdTTL: Duration = .seconds(480)
    /// Seats one person may hold for one showtime, across all their holds.
    public var maxSeatsPerUser = 10
    /// How much one extension adds to a hold, and how many a hold may have.
    public var holdExtension: Duration = .seconds(120)
    public var maxHoldExtensions = 2
    /// Hold attempts one person may make per second on one showtime before 429.
    public var holdAttemptsPerSecond = 10
    /// How old a seat map served to anonymous viewers may be. During a rush the version moves
    /// with every hold; sharing one rendering for this long turns thousands of polls into a few
    /// reads of Redis and makes `If-None-Match` match. Signed-in viewers always get a fresh map.
    public var seatMapMaxAge: Duration = .milliseconds(100)
    /// Live clients get a showtime's deltas in frames of this length (zero: each at once).
    public var liveFrame: Duration = .milliseconds(50)
    /// Checkout extends the hold by this much, to cover paying.
    public var paymentWindow: Duration = .seconds(600)
    /// A pending booking whose payment callback never came is closed (`expired`) after this.
    public var pendingBookingTimeout: Duration = .seconds(1800)
    /// Owners may cancel until this long before the start; admins until the start.
    public var cancellationCutoff: Duration = .seconds(3600)
    /// The secret the payment provider signs its callbacks with.
    public var paymentSecret = "sandbox-secret-change-me-sandbox-secret"
    /// How far a callback's signed timestamp may be from now.
    public var callbackTolerance: Duration = .seconds(300)
    /// Whether the sandbox provider's development routes (paying a payment) are served.
    public var sandboxRoutesEnabled = false
    /// Days and time slots are taken in this zone.
    public var timeZone: TimeZone = TimeZone(identifier: "Europe/Berlin")!
    /// How reports divide a day (in `timeZone`) by a showtime's start: matinee from 06:00,
    /// evening from 17:00, late from 21:00 and through the night until the next matinee.
    public var timeSlots: TimeSlots = .standard
    /// Where poster images are stored.
    public var posterDirectory: String = ".data/dev/posters"
    /// bcrypt's cost; tests lower it so that they stay fast.
    public var bcryptCost: UInt8 = 12
    public var minimumPasswordLength = 10
    /// How failed sign-ins are throttled (per client and account, per account, per client).
    public var loginThrottle = LoginThrottlePolicy()
    /// The first admin, created at start if missing.
    public var adminEmail: String?
    public var adminPassword: String?
    /// How long an instance trusts its cached showtime start and status before reading them
    /// again (a cancel reaches every instance at once through Redis regardless).
    public var showtimeStatusLifetime: Duration = .seconds(5)
    /// An availability change that PostgreSQL committed and Redis has not acknowledged for this
    /// long is rebuilt from PostgreSQL by any instance's outbox worker.
    public var availabilityRepairAfter: Duration = .seconds(5)
    /// How long `/ready` waits for Redis and PostgreSQL before it counts one as down: a load
    /// balancer's health check needs its answer while a service stalls.
    public var readinessTimeout: Duration = .milliseconds(500)
    /// Payment callbacks go to PostgreSQL in batches (group commit): while one batch is being
    /// written, those that arrive wait and go together in the next. Off: one transaction each.
    public var groupCommit = true
    /// The most callbacks in one batch.
    public var groupCommitMaxBatch = 64
    /// Batches written at once (each on its own connection).
    public var groupCommitInFlight = 2
    /// Waiting rooms: joins one client address may make per second (across accounts), and the
    /// admissions per second and active shoppers a room allows unless staff set them (nil: from
    /// the seats left, at `queueSeatsPerBooking` a booking).
    public var queueJoinsPerAddressPerSecond = 5
    public var queueAdmissionsPerSecond = 50
    public var queueMaxActive: Int?
    public var queueSeatsPerBooking = 2.0
    /// An admitted shopper not seen (no status poll, no hold) for this long stops being active.
    public var queueInactivity: Duration = .seconds(120)
    /// How long a queue pass is valid; every status poll of an admitted ticket renews it.
    public var queuePassLifetime: Duration = .seconds(600)
    /// Signs queue passes; every instance must share it (`boxoffice serve` derives it from the
    /// JWT secret unless BOXOFFICE_QUEUE_PASS_SECRET is set).
    public var queuePassSecret = "queue-pass-secret-change-me-queue-pass-secret"
    /// Webhooks: whether they may point at loopback, private or link-local addresses
    /// (development and tests), how long a receiver has to answer, and when a failed delivery
    /// is tried again (the wait doubles each time) and given up.
    public var webhooksAllowPrivateTargets = false
    public var webhookTimeout: Duration = .seconds(5)
    public var webhookDelivery = DeliveryPolicy()
    /// The relay customers' e-mails go through; nil: none are sent (they wait, recorded, until
    /// one is configured).
    public var smtp: SMTPSettings?
    /// Fault injection for tests and fault runs: runs after a payment's sale committed in
    /// PostgreSQL and before Redis is told (e.g. to stop the process there).
    public var afterSaleCommit: (@Sendable () async -> Void)?

    public init() {}
}
