import AsyncHTTPClient
import BoxOffice
import Foundation
import Histogram
import NIOCore
import NIOHTTP1
import NIOPosix
import PostgresClient
import RedisClient
import Synchronization

/// When each person comes: a quarter before the opening (their places are drawn at random),
/// the rest in the first seconds after it (first come, first served). The same crowd comes to
/// both sales of `launch --waiting-room`.
struct Crowd: Sendable {
    struct Arrival: Sendable {
        var person: Int
        /// Microseconds after the opening; negative before it.
        var offset: Int64
        var early: Bool
    }

    /// In order of arrival.
    let arrivals: [Arrival]

    init(users: Int, preQueueSeconds: Double, arrivalSeconds: Double, seed: UInt64) {
        var random = SplitMix(seed: seed ^ 0x00C0_FFEE)
        var people = Array(0..<users)
        people.shuffle(using: &random)
        let early = users / 4
        arrivals = people.enumerated().map { rank, person in
            if rank < early {
                // Strictly before the opening: at least 50 ms, so that the join is an early one.
                let seconds = Double.random(in: 0.05..<max(0.06, preQueueSeconds), using: &random)
                return Arrival(person: person, offset: -Int64(seconds * 1e6), early: true)
            }
            return Arrival(person: person, offset: Int64(Double.random(in: 0..<max(0.001, arrivalSeconds), using: &random) * 1e6), early: false)
        }.sorted { $0.offset < $1.offset }
    }
}

/// What one person did in the waiting room.
struct RoomRecord: Sendable {
    var early = false
    var showtimeID = 0
    /// When the join was sent (µs of the pass's clock): the arrival order.
    var joinSent: UInt64?
    var ticket: String?
    /// The first estimate after the opening, and when it came (ms since 1970, as Redis tells
    /// admission times).
    var firstEstimateSeconds: Int?
    var firstEstimateAtMilliseconds: Double?
    var outcome = "none"
}

/// Spreads the waiting people's polls to at most `perSecond` (`--queue-polls-per-second`): each
/// poll takes the next free slot and sleeps until it. 20,000 people polling every 1–5 s would ask
/// for more than the 2 cores serve beside the sale (and this process would spend a core on them).
final class Pacer: Sendable {
    let spacing: Duration
    let next = Mutex(ContinuousClock.now)

    init(perSecond: Int) { spacing = .seconds(1.0 / Double(max(1, perSecond))) }

    func wait() async {
        let slot = next.withLock { next in
            let slot = max(ContinuousClock.now, next)
            next = slot + spacing
            return slot
        }
        try? await Task.sleep(until: slot, clock: .continuous)
    }
}

/// At most `limit` callers inside at once, the others waiting in order: joins wait here, not in
/// the HTTP client's pool (thousands queued there time out and cost this process a core).
final class Gate: Sendable {
    private struct State {
        var free: Int
        var waiters: [CheckedContinuation<Void, Never>] = []
        var head = 0
    }

    private let state: Mutex<State>

    init(limit: Int) { state = Mutex(State(free: max(1, limit))) }

    /// Takes a slot if one is free, without waiting.
    func tryEnter() -> Bool {
        state.withLock { state in
            guard state.free > 0 else { return false }
            state.free -= 1
            return true
        }
    }

    func enter() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let admitted = state.withLock { state -> Bool in
                if state.free > 0 {
                    state.free -= 1
                    return true
                }
                state.waiters.append(continuation)
                return false
            }
            if admitted { continuation.resume() }
        }
    }

    func leave() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard state.head < state.waiters.count else {
                state.free += 1
                return nil
            }
            let next = state.waiters[state.head]
            state.head += 1
            if state.head >= 1024, state.head * 2 >= state.waiters.count {
                state.waiters.removeFirst(state.head)
                state.head = 0
            }
            return next
        }
        next?.resume()
    }
}

/// CPU seconds per process over the first `seconds` after the opening (or until `stop`, if
/// sooner): the busy part of a sale, without the room's long tail.
final class EarlyCPU: Sendable {
    private final class Samples: Sendable {
        let atOpening = Mutex<ProcessCPU?>(nil)
        let result = Mutex<[String: Double]?>(nil)

        func close() {
            let now = ProcessCPU.sample()
            guard let start = atOpening.withLock({ $0 }) else { return }
            result.withLock { if $0 == nil { $0 = now.since(start) } }
        }
    }

    private let samples = Samples()
    private let task: Task<Void, Never>

    init(opening: ContinuousClock.Instant, seconds: Int) {
        let samples = samples
        task = Task {
            try? await Task.sleep(until: opening, clock: .continuous)
            samples.atOpening.withLock { $0 = ProcessCPU.sample() }
            try? await Task.sleep(until: opening + .seconds(seconds), clock: .continuous)
            samples.close()
        }
    }

    func stop() -> [String: Double] {
        task.cancel()
        samples.close()
        return samples.result.withLock { $0 } ?? [:]
    }
}

/// Every person's record, shared by the people's tasks.
final class RoomLedger: Sendable {
    let records: Mutex<[RoomRecord]>

    init(people: Int) { records = Mutex([RoomRecord](repeating: RoomRecord(), count: people)) }
}

/// `launch --waiting-room`: the same crowd buys seats twice, on fresh showtimes of the same size:
/// first with no waiting room (as today: `--concurrency` people shop at once, in the order they
/// came), then with the room on (everyone joins, polls, and shops when admitted). One report
/// compares the two.
struct WaitingRoomComparison {
    let options: LaunchOptions
    let client: HTTPClient
    let postgres: PostgresPool
    let redis: RedisClient

    func run() async throws -> Int {
        var stageOptions = options
        stageOptions.showtimes = options.showtimes * 2
        stageOptions.ceiling = false
        stageOptions.onlyCeiling = false
        let setup = API(client: client, baseURL: options.url, measurements: Measurements())
        progress("setting up 2 × \(options.showtimes) showtimes × \(options.seats) seats and \(options.users) people…")
        let stage = try await buildStage(options: stageOptions, api: setup, postgres: postgres)
        let plain = Array(stage.showtimes.prefix(options.showtimes))
        let roomed = Array(stage.showtimes.suffix(options.showtimes))
        let crowd = Crowd(
            users: options.users, preQueueSeconds: options.preQueueSeconds, arrivalSeconds: options.arrivalSeconds, seed: options.seed
        )

        // Without the room first: the room's sale meets the larger tables.
        let without = try await sellWithoutRoom(stage: stage, showtimes: plain, crowd: crowd)
        let with = try await sellWithRoom(stage: stage, showtimes: roomed, crowd: crowd, setup: setup)

        let late = without.board.latePayments.withLock { $0 } + with.board.latePayments.withLock { $0 }
        if options.waitForExpiry {
            let wait = Double(options.holdTTL + options.paymentWindow + 2)
            progress("waiting \(Int(wait)) s for the holds to lapse, then sending \(late.count) late payments…")
            try await Task.sleep(for: .seconds(wait))
        }
        await withTaskGroup(of: Void.self) { group in
            for payment in without.board.latePayments.withLock({ $0 }) {
                group.addTask { await without.shopper.pay(payment.paymentID, amount: payment.amount) }
            }
            for payment in with.board.latePayments.withLock({ $0 }) {
                group.addTask { await with.shopper.pay(payment.paymentID, amount: payment.amount) }
            }
        }
        if options.waitForExpiry { try await Task.sleep(for: .seconds(2)) }
        let invariants = try await checkInvariants(stage: stage, postgres: postgres, redis: redis, api: setup, holdsHaveExpired: options.waitForExpiry)
        let report = WaitingRoomReport(
            options: options, seatsPerShowtime: plain.first?.capacity ?? 0, without: without.result, with: with.result,
            invariants: invariants, latePayments: late.count
        )
        print(report.markdown)
        if let output = options.output {
            try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
            try report.markdown.write(toFile: "\(output)/\(options.label).md", atomically: true, encoding: .utf8)
            try report.json().write(to: URL(fileURLWithPath: "\(output)/\(options.label).json"))
            print("wrote \(output)/\(options.label).md and .json")
        }
        return invariants.violations.count
    }

    struct Pass {
        var result: WaitingRoomReport.Pass
        var board: SaleBoard
        var shopper: Shopper
    }

    private func makeShopper(stage: Stage, measurements: Measurements) -> Shopper {
        Shopper(
            api: API(client: client, baseURL: options.url, measurements: measurements),
            signer: PaymentSignature(secret: options.paymentSecret), measurements: measurements, board: SaleBoard(layouts: stage.layouts)
        )
    }

    /// Today's sale: nobody waits in a room; people who came before the opening start at it,
    /// the others when they come, at most `--concurrency` shopping at once, in order of arrival.
    private func sellWithoutRoom(stage: Stage, showtimes: [Stage.Showtime], crowd: Crowd) async throws -> Pass {
        let measurements = Measurements()
        let shopper = makeShopper(stage: stage, measurements: measurements)
        let board = shopper.board
        let opening = ContinuousClock.now + .seconds(1)
        let openingElapsed = measurements.elapsedMicroseconds + 1_000_000
        let sampler = SellOutSampler(api: shopper.api, layouts: stage.layouts, showtimes: showtimes, openingElapsed: openingElapsed)
        let sampling = Task { await sampler.run() }
        let early = EarlyCPU(opening: opening, seconds: 30)
        try await Task.sleep(until: opening, clock: .continuous)
        progress("without a waiting room: the sale opens (\(options.concurrency) shopping at once)")
        let cpuAtOpening = ProcessCPU.sample()
        let seed = options.seed
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<max(1, options.concurrency) {
                group.addTask {
                    while true {
                        let next = board.nextPerson.add(1, ordering: .relaxed).oldValue
                        guard next < crowd.arrivals.count else { return }
                        let arrival = crowd.arrivals[next]
                        if arrival.offset > 0 { try? await Task.sleep(until: opening + .microseconds(arrival.offset), clock: .continuous) }
                        await shopper.shop(
                            token: stage.tokens[arrival.person], showtimeID: showtimes[arrival.person % showtimes.count].id,
                            prefersBest: arrival.person % 2 == 1, seed: seed &+ UInt64(arrival.person)
                        )
                    }
                }
            }
        }
        let end = measurements.elapsedMicroseconds
        let cpu = ProcessCPU.sample().since(cpuAtOpening)
        let cpuEarly = early.stop()
        let soldOut = await sampler.finish(within: .seconds(20))
        sampling.cancel()
        progress("without a waiting room: everyone done after \(String(format: "%.1f", Double(end - openingElapsed) / 1e6)) s")
        let result = WaitingRoomReport.Pass(
            name: "no room", measurements: measurements, openingElapsed: openingElapsed, end: end, soldOut: soldOut,
            showtimes: showtimes, cpu: cpu, cpuEarly: cpuEarly, room: nil
        )
        return Pass(result: result, board: board, shopper: shopper)
    }

    /// The same crowd with the room on: everyone joins (early arrivals before the opening) and
    /// polls their ticket; admitted people shop with their pass, and leave the room when they
    /// got no seats (checkout ends a turn by itself).
    private func sellWithRoom(stage: Stage, showtimes: [Stage.Showtime], crowd: Crowd, setup: API) async throws -> Pass {
        let measurements = Measurements()
        let shopper = makeShopper(stage: stage, measurements: measurements)
        // Joins and polls on a pool of their own: thousands of waiting people must not queue the
        // admitted shoppers' requests behind theirs in this process.
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: max(1, options.queueConnections))
        let queueClient = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: configuration)
        let queueAPI = API(client: queueClient, baseURL: options.url, measurements: measurements)
        // Joins on connections of their own too: polls queued in the pool must not time joins out.
        let joinClient = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: configuration)
        let joinAPI = API(client: joinClient, baseURL: options.url, measurements: measurements)
        // Streams: one connection each, as each browser has its own.
        var streamConfiguration = HTTPClient.Configuration()
        streamConfiguration.connectionPool = .init(
            idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: max(1, options.queueStreams)
        )
        let streamClient = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: streamConfiguration)
        let lead = Duration.seconds(options.preQueueSeconds + 1.5)
        let opening = ContinuousClock.now + lead
        let openingElapsed = measurements.elapsedMicroseconds + UInt64(lead.microseconds)
        let openingDate = Date().addingTimeInterval(lead.timeInterval)
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        for showtime in showtimes {
            let configured = try await setup.call("setup", .PUT, "/admin/showtimes/\(showtime.id)", token: stage.adminToken, json: """
                {"sale_opens_at": "\(formatter.string(from: openingDate))", "waiting_room": "always"}
                """)
            guard configured.status == 200 else {
                throw SetupError.failed("opening the sale answered \(configured.status): \(String(buffer: configured.body))")
            }
            var limits: [String] = []
            if let rate = options.queueAdmissionsPerSecond { limits.append("\"admissions_per_second\": \(rate)") }
            if let active = options.queueMaxActive { limits.append("\"max_active\": \(active)") }
            if !limits.isEmpty {
                let room = try await setup.call("setup", .PUT, "/admin/showtimes/\(showtime.id)/queue", token: stage.adminToken, json: "{\(limits.joined(separator: ", "))}")
                guard room.status == 200 else { throw SetupError.failed("configuring the room answered \(room.status): \(String(buffer: room.body))") }
            }
        }
        progress("with a waiting room: \(crowd.arrivals.filter(\.early).count) people arrive over the \(Int(options.preQueueSeconds)) s before the opening")
        let ledger = RoomLedger(people: crowd.arrivals.count)
        let sampler = SellOutSampler(api: shopper.api, layouts: stage.layouts, showtimes: showtimes, openingElapsed: openingElapsed)
        let sampling = Task {
            try? await Task.sleep(until: opening, clock: .continuous)
            await sampler.run()
        }
        let cpuAtOpening = Task {
            try? await Task.sleep(until: opening, clock: .continuous)
            progress("with a waiting room: the sale opens")
            return ProcessCPU.sample()
        }
        let early = EarlyCPU(opening: opening, seconds: 30)
        let person = RoomPerson(
            options: options, stage: stage, showtimes: showtimes, shopper: shopper, queueAPI: queueAPI, joinAPI: joinAPI, joinGate: Gate(limit: options.queueConnections),
            streamClient: streamClient, streamSlots: Gate(limit: options.queueStreams),
            pollPacer: Pacer(perSecond: options.queuePollsPerSecond), ledger: ledger,
            opening: opening, openingDate: openingDate, measurements: measurements
        )
        await withTaskGroup(of: Void.self) { group in
            for arrival in crowd.arrivals { group.addTask { await person.come(arrival) } }
        }
        let end = measurements.elapsedMicroseconds
        let cpu = ProcessCPU.sample().since(await cpuAtOpening.value)
        let cpuEarly = early.stop()
        let soldOut = await sampler.finish(within: .seconds(20))
        sampling.cancel()
        try? await queueClient.shutdown()
        try? await joinClient.shutdown()
        try? await streamClient.shutdown()
        progress("with a waiting room: everyone done after \(String(format: "%.1f", Double(end - min(end, openingElapsed)) / 1e6)) s")

        // When each ticket was admitted, as the room recorded it.
        var admittedAt: [String: Double] = [:]
        var figures: [String] = []
        for showtime in showtimes {
            let pairs = try await redis.send(RedisCommand<RedisReply>(["HGETALL", "bo:{st:\(showtime.id)}:q:admitted-at"])).array ?? []
            for index in stride(from: 0, to: pairs.count - 1, by: 2) {
                if let ticket = pairs[index].string, let ms = pairs[index + 1].string.flatMap(Double.init) { admittedAt[ticket] = ms }
            }
            let room = try await setup.call("setup", .GET, "/admin/showtimes/\(showtime.id)/queue", token: stage.adminToken)
            figures.append(String(buffer: room.body))
        }
        let room = RoomFigures(
            records: ledger.records.withLock { $0 }, arrivals: crowd.arrivals, admittedAt: admittedAt,
            mostlySoldAt: soldOut.byShowtime.compactMapValues { $0[90].map { openingDate.timeIntervalSince1970 * 1000 + $0 * 1000 } },
            measurements: measurements,
            openingElapsed: openingElapsed, end: end, showtimes: showtimes, serverFigures: figures
        )
        let result = WaitingRoomReport.Pass(
            name: "waiting room", measurements: measurements, openingElapsed: openingElapsed, end: end, soldOut: soldOut,
            showtimes: showtimes, cpu: cpu, cpuEarly: cpuEarly, room: room
        )
        return Pass(result: result, board: shopper.board, shopper: shopper)
    }
}

/// One person of the room's sale: comes, joins, polls until admitted (or sold out), shops.
struct RoomPerson: Sendable {
    let options: LaunchOptions
    let stage: Stage
    let showtimes: [Stage.Showtime]
    let shopper: Shopper
    let queueAPI: API
    let joinAPI: API
    let joinGate: Gate
    let streamClient: HTTPClient
    /// `--queue-streams`: who may follow a stream now; the others poll.
    let streamSlots: Gate
    let pollPacer: Pacer
    let ledger: RoomLedger
    let opening: ContinuousClock.Instant
    let openingDate: Date
    let measurements: Measurements

    func come(_ arrival: Crowd.Arrival) async {
        let index = arrival.person
        let token = stage.tokens[index]
        let showtimeID = showtimes[index % showtimes.count].id
        var random = SplitMix(seed: options.seed &+ UInt64(index) &* 31)
        try? await Task.sleep(until: opening + .microseconds(arrival.offset), clock: .continuous)
        let arrived = ContinuousClock.now
        ledger.records.withLock { $0[index].early = arrival.early; $0[index].showtimeID = showtimeID }
        func finish(_ outcome: String) {
            ledger.records.withLock { $0[index].outcome = outcome }
            measurements.count("queue_" + outcome)
        }

        // Join; a refusal for too many joins (or no answer) waits a moment and tries again.
        var body: [String: Any]?
        for attempt in 0..<8 {
            let sent = measurements.elapsedMicroseconds
            if attempt == 0 { ledger.records.withLock { $0[index].joinSent = sent } }
            await joinGate.enter()
            let reply = try? await joinAPI.call("POST /showtimes/{id}/queue", .POST, "/showtimes/\(showtimeID)/queue", token: token)
            joinGate.leave()
            if let reply, reply.status == 200 || reply.status == 201 {
                body = reply.json
                let answered = measurements.elapsedMicroseconds
                measurements.state.withLock { $0.joinsAt.append(answered) }
                break
            }
            measurements.count(reply?.status == 429 ? "queue_join_rate_limited" : "queue_join_errors")
            try? await Task.sleep(for: .milliseconds(Int.random(in: 500...1500, using: &random)))
        }
        guard var current = body, let ticket = current["ticket"] as? String else { return finish("join_failed") }
        /// The first estimate after the opening, to compare with the actual wait.
        @Sendable func noteEstimate(_ waiting: [String: Any]) {
            guard let estimate = waiting["estimated_wait_seconds"] as? Int, ContinuousClock.now >= opening else { return }
            let at = Date().timeIntervalSince1970 * 1000
            ledger.records.withLock { all in
                if all[index].firstEstimateSeconds == nil {
                    all[index].firstEstimateSeconds = estimate
                    all[index].firstEstimateAtMilliseconds = at
                }
            }
        }
        ledger.records.withLock { $0[index].ticket = ticket }

        while true {
            let status = current["status"] as? String ?? "?"
            let estimate = current["estimated_wait_seconds"] as? Int
            switch status {
            case "waiting":
                noteEstimate(current)
            case "admitted":
                guard let pass = current["queue_pass"] as? String else { return finish("admitted_without_pass") }
                let gotSeats = await shopper.shop(
                    token: token, showtimeID: showtimeID, prefersBest: index % 2 == 1, seed: options.seed &+ UInt64(index), queuePass: pass
                )
                if !gotSeats {
                    // The turn goes to the next person at once.
                    _ = try? await queueAPI.call("DELETE /queue/{ticket}", .DELETE, "/queue/\(ticket)", token: token)
                }
                return finish(gotSeats ? "admitted_got_seats" : "admitted_no_seats")
            case "sold_out":
                return finish("sold_out")
            default:
                return finish("ended_" + status)
            }
            if ContinuousClock.now - arrived > .seconds(options.queuePatienceSeconds) {
                _ = try? await queueAPI.call("DELETE /queue/{ticket}", .DELETE, "/queue/\(ticket)", token: token)
                return finish("gave_up_waiting")
            }
            // A stream when a slot is free: it answers with the first news that is not a wait.
            if options.queueStreams > 0, streamSlots.tryEnter() {
                let deadline = arrived + .seconds(options.queuePatienceSeconds)
                let news = await follow(ticket: ticket, token: token, until: deadline) { waiting in
                    noteEstimate(waiting)
                }
                streamSlots.leave()
                if let news {
                    current = news
                    continue
                }
                if ContinuousClock.now >= deadline { continue }  // patience runs out above
            }
            // Every --queue-poll-ms, or every estimated wait ÷ 4 when that is longer (before the
            // opening: the time left ÷ 2), up to --queue-poll-max-seconds; ±25%.
            let base = Double(options.queuePollMilliseconds) / 1000
            let untilOpening = (opening - ContinuousClock.now).timeInterval
            let hint = estimate.map(Double.init).map { $0 / 4 } ?? (untilOpening > 0 ? untilOpening / 2 : 0)
            let seconds = min(max(base, hint), max(base, options.queuePollMaxSeconds))
            try? await Task.sleep(for: .seconds(seconds * Double.random(in: 0.75...1.25, using: &random)))
            // The people about to be admitted poll at once; everyone else takes a slot.
            if (estimate ?? Int.max) > 2 { await pollPacer.wait() }
            guard let reply = try? await queueAPI.call("GET /queue/{ticket}", .GET, "/queue/\(ticket)", token: token),
                  reply.status == 200 else {
                measurements.count("queue_poll_errors")
                continue
            }
            current = reply.json
        }
    }
}

extension RoomPerson {
    /// Follows the ticket's event stream until news that is not a wait (admitted, sold out,
    /// ended: returned), or until the stream ends or fails, or `deadline` (nil: poll then).
    /// Each waiting event goes to `waiting`.
    func follow(
        ticket: String, token: String, until deadline: ContinuousClock.Instant, waiting: ([String: Any]) -> Void
    ) async -> [String: Any]? {
        var request = HTTPClientRequest(url: options.url + "/queue/\(ticket)/events")
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "Accept", value: "text/event-stream")
        let opened = measurements.elapsedMicroseconds
        do {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return nil }
            let response = try await streamClient.execute(request, timeout: .nanoseconds(Int64(left.timeInterval * 1e9)))
            measurements.record("GET /queue/{ticket}/events", status: Int(response.status.code), microseconds: measurements.elapsedMicroseconds - opened)
            guard response.status == .ok else { return nil }
            var pending = ""
            for try await chunk in response.body {
                pending += String(buffer: chunk)
                while let end = pending.range(of: "\n\n") {
                    let block = pending[..<end.lowerBound]
                    pending.removeSubrange(..<end.upperBound)
                    guard let line = block.split(separator: "\n").first(where: { $0.hasPrefix("data: ") }),
                          let object = try? JSONSerialization.jsonObject(with: Data(line.dropFirst(6).utf8)) as? [String: Any]
                    else { continue }
                    measurements.count("queue_stream_events")
                    if object["status"] as? String == "waiting" { waiting(object) } else { return object }
                }
            }
            measurements.count("queue_streams_ended_waiting")
        } catch {
            measurements.count("queue_stream_errors")
        }
        return nil
    }
}

/// Reads each showtime's statuses every 200 ms from the opening and notes when 50, 90, 95,
/// 99 and 100% of its seats were first seen sold or held: the same measure for both sales.
final class SellOutSampler: Sendable {
    static let thresholds = [50, 90, 95, 99, 100]

    let api: API
    let layouts: [Int: ShowtimeSeats]
    let showtimes: [Stage.Showtime]
    let openingElapsed: UInt64
    /// Per showtime, per threshold (percent of the seats sold or held): seconds from the opening.
    let reached = Mutex<[Int: [Int: Double]]>([:])
    /// The fewest free seats seen, per showtime.
    let lowest = Mutex<[Int: Int]>([:])

    init(api: API, layouts: [Int: ShowtimeSeats], showtimes: [Stage.Showtime], openingElapsed: UInt64) {
        self.api = api
        self.layouts = layouts
        self.showtimes = showtimes
        self.openingElapsed = openingElapsed
    }

    private func soldOut(_ showtimeID: Int) -> Bool { reached.withLock { $0[showtimeID]?[100] != nil } }

    func run() async {
        while !Task.isCancelled, !showtimes.allSatisfy({ soldOut($0.id) }) {
            for showtime in showtimes where !soldOut(showtime.id) {
                guard let reply = try? await api.call("sampler", .GET, "/showtimes/\(showtime.id)/seats?view=statuses"),
                      reply.status == 200 else { continue }
                guard let free = layouts[showtime.id]?.availability(inStatuses: reply.body) else {
                    api.measurements.count("sampler_unreadable")
                    continue
                }
                let freeCount = free.reduce(0) { $0 + ($1 ? 1 : 0) }
                let seconds = Double(Int64(api.measurements.elapsedMicroseconds) - Int64(openingElapsed)) / 1e6
                lowest.withLock { $0[showtime.id] = min($0[showtime.id] ?? Int.max, freeCount) }
                reached.withLock { all in
                    for threshold in Self.thresholds where (free.count - freeCount) * 100 >= threshold * free.count {
                        if all[showtime.id, default: [:]][threshold] == nil { all[showtime.id, default: [:]][threshold] = seconds }
                    }
                }
            }
            try? await Task.sleep(for: .milliseconds(200))
        }
    }

    /// Waits up to `limit` for the last showtime to be seen with no seat free; then, per
    /// threshold reached by every showtime, the last showtime's time, and each showtime's
    /// times.
    func finish(within limit: Duration) async -> (all: [Int: Double], byShowtime: [Int: [Int: Double]]) {
        let deadline = ContinuousClock.now + limit
        while !showtimes.allSatisfy({ soldOut($0.id) }), ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(100))
        }
        progress("fewest free seats seen per showtime: \(lowest.withLock { $0 }.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", "))")
        let byShowtime = reached.withLock { $0 }
        var all: [Int: Double] = [:]
        for threshold in Self.thresholds {
            let times = showtimes.compactMap { byShowtime[$0.id]?[threshold] }
            if times.count == showtimes.count { all[threshold] = times.max() }
        }
        return (all, byShowtime)
    }
}

/// The room's own measures: fairness, wait estimates, joins and polls.
struct RoomFigures: Codable {
    var joins: Int
    var joinsBeforeOpening: Int
    var joinsPerSecondBeforeOpening: Double
    /// Joins answered per second from the opening to the last join answered.
    var joinsPerSecondAfterOpening: Double
    var peakJoinsInOneSecond: Int
    var joinP50Milliseconds: Double
    var joinP99Milliseconds: Double
    var polls: Int
    var pollsPerSecond: Double
    var admittedEarly: Int
    var admittedLate: Int
    /// Kendall's tau-b between arrival order and admission order, per showtime.
    var tauAfterOpening: [Double]
    var tauPreQueue: [Double]
    var tauAfterOpeningMean: Double?
    var tauPreQueueMean: Double?
    /// |estimated − actual| wait, seconds, over the admitted people who had an estimate.
    var estimates: Int
    var estimateErrorMedianSeconds: Double?
    var estimateErrorP90Seconds: Double?
    /// The same over people admitted before 90% of their showtime's seats were sold or held.
    var estimatesDuringSale: Int
    var estimateErrorDuringSaleMedianSeconds: Double?
    var estimateErrorDuringSaleP90Seconds: Double?
    /// actual − estimated, median (positive: waits were longer than told).
    var estimateBiasMedianSeconds: Double?
    var actualWaitMedianSeconds: Double?
    var outcomes: [String: Int]
    /// GET /admin/showtimes/{id}/queue at the end.
    var serverFigures: [String]

    init(
        records: [RoomRecord], arrivals: [Crowd.Arrival], admittedAt: [String: Double], mostlySoldAt: [Int: Double],
        measurements: Measurements, openingElapsed: UInt64, end: UInt64, showtimes: [Stage.Showtime], serverFigures: [String]
    ) {
        let state = measurements.state.withLock { $0 }
        let joinTimes = state.joinsAt.map { Int64($0) - Int64(openingElapsed) }
        joins = joinTimes.count
        let before = joinTimes.filter { $0 < 0 }
        joinsBeforeOpening = before.count
        let firstJoin = before.min() ?? 0
        joinsPerSecondBeforeOpening = before.isEmpty ? 0 : Double(before.count) / max(0.001, Double(-firstJoin) / 1e6)
        let after = joinTimes.filter { $0 >= 0 }
        joinsPerSecondAfterOpening = after.isEmpty ? 0 : Double(after.count) / max(0.001, Double(after.max()!) / 1e6)
        var buckets: [Int64: Int] = [:]
        for time in joinTimes { buckets[time >= 0 ? time / 1_000_000 : time / 1_000_000 - 1, default: 0] += 1 }
        peakJoinsInOneSecond = buckets.values.max() ?? 0
        let joinLatency = state.latencies["POST /showtimes/{id}/queue"]
        joinP50Milliseconds = joinLatency.map { Double($0.valueAtPercentile(50)) / 1000 } ?? 0
        joinP99Milliseconds = joinLatency.map { Double($0.valueAtPercentile(99)) / 1000 } ?? 0
        let pollHistogram = state.latencies["GET /queue/{ticket}"]
        polls = Int(pollHistogram?.totalCount ?? 0)
        // Over the whole time people were in the room: from the first join to the last person done.
        pollsPerSecond = Double(polls) / max(0.001, Double(Int64(end) - Int64(openingElapsed) - firstJoin) / 1e6)

        var tauLate: [Double] = []
        var tauEarly: [Double] = []
        var admittedEarly = 0, admittedLate = 0
        for showtime in showtimes {
            var early: [(Double, Double)] = []
            var late: [(Double, Double)] = []
            for record in records where record.showtimeID == showtime.id {
                guard let ticket = record.ticket, let admitted = admittedAt[ticket], let sent = record.joinSent else { continue }
                if record.early { early.append((Double(sent), admitted)) } else { late.append((Double(sent), admitted)) }
            }
            admittedEarly += early.count
            admittedLate += late.count
            if let tau = kendallTauB(early) { tauEarly.append(tau) }
            if let tau = kendallTauB(late) { tauLate.append(tau) }
        }
        self.admittedEarly = admittedEarly
        self.admittedLate = admittedLate
        tauAfterOpening = tauLate.map { ($0 * 1000).rounded() / 1000 }
        tauPreQueue = tauEarly.map { ($0 * 1000).rounded() / 1000 }
        tauAfterOpeningMean = tauLate.isEmpty ? nil : ((tauLate.reduce(0, +) / Double(tauLate.count)) * 1000).rounded() / 1000
        tauPreQueueMean = tauEarly.isEmpty ? nil : ((tauEarly.reduce(0, +) / Double(tauEarly.count)) * 1000).rounded() / 1000

        var errors: [Double] = []
        var biases: [Double] = []
        var actuals: [Double] = []
        var duringSale: [Double] = []
        for record in records {
            guard let ticket = record.ticket, let admitted = admittedAt[ticket], let estimate = record.firstEstimateSeconds,
                  let at = record.firstEstimateAtMilliseconds else { continue }
            let actual = max(0, (admitted - at) / 1000)
            actuals.append(actual)
            errors.append(abs(Double(estimate) - actual))
            biases.append(actual - Double(estimate))
            // Admitted before 90% of the showtime's seats were gone (later ones mostly got seats
            // that came back: lapsed holds, failed payments).
            if let cutoff = mostlySoldAt[record.showtimeID], admitted <= cutoff { duringSale.append(abs(Double(estimate) - actual)) }
        }
        estimatesDuringSale = duringSale.count
        estimateErrorDuringSaleMedianSeconds = quantile(duringSale, 0.5)
        estimateErrorDuringSaleP90Seconds = quantile(duringSale, 0.9)
        estimates = errors.count
        estimateErrorMedianSeconds = quantile(errors, 0.5)
        estimateErrorP90Seconds = quantile(errors, 0.9)
        estimateBiasMedianSeconds = quantile(biases, 0.5)
        actualWaitMedianSeconds = quantile(actuals, 0.5)
        var outcomes: [String: Int] = [:]
        for record in records { outcomes[record.outcome, default: 0] += 1 }
        self.outcomes = outcomes
        self.serverFigures = serverFigures
    }
}

/// Kendall's tau-b of the pairs (ties in either order counted as such); nil under two pairs.
func kendallTauB(_ pairs: [(Double, Double)]) -> Double? {
    guard pairs.count >= 2 else { return nil }
    var concordant = 0, discordant = 0, tiedX = 0, tiedY = 0
    let xs = pairs.map(\.0), ys = pairs.map(\.1)
    for i in 0..<pairs.count {
        for j in (i + 1)..<pairs.count {
            let dx = xs[i] - xs[j], dy = ys[i] - ys[j]
            if dx == 0 { tiedX += 1 }
            if dy == 0 { tiedY += 1 }
            if dx * dy > 0 { concordant += 1 } else if dx * dy < 0 { discordant += 1 }
        }
    }
    let total = pairs.count * (pairs.count - 1) / 2
    let denominator = (Double(total - tiedX) * Double(total - tiedY)).squareRoot()
    return denominator > 0 ? Double(concordant - discordant) / denominator : nil
}

func quantile(_ values: [Double], _ q: Double) -> Double? {
    guard !values.isEmpty else { return nil }
    let sorted = values.sorted()
    return (sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * q).rounded()))] * 100).rounded() / 100
}

extension Duration {
    var microseconds: Int64 { components.seconds * 1_000_000 + components.attoseconds / 1_000_000_000_000 }
    var timeInterval: TimeInterval { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// The two sales side by side.
struct WaitingRoomReport {
    struct Pass: Codable {
        var name: String
        var showtimes: [Int]
        var peopleDoneSeconds: Double
        /// Seconds after the opening until every showtime had 50, 90, 95, 99, 100% of its seats
        /// sold or held (absent: some showtime never did within 20 s of the end).
        var seatsGoneSeconds: [String: Double]
        var seatsGonePerShowtime: [String: [String: Double]]
        /// Every seat sold or held (nil: not seen within 20 s of the end).
        var sellOutSeconds: Double?
        /// 90% of the seats sold or held (every showtime).
        var mostlySoldSeconds: Double?
        var holds: Int
        var conflicts: Int
        /// Confirmed bookings until 90% of the seats were sold or held, and per second over that time.
        var confirmedBySellOut: Int
        var confirmedPerSecondBySellOut: Double?
        var confirmed: Int
        var peakConfirmedPerSecond: Int
        var holdP50Milliseconds: Double
        var holdP99Milliseconds: Double
        var holdRequests: Int
        var latencies: [LaunchReport.Latency]
        var counters: [String: Int]
        var cpuSeconds: [String: Double]
        /// The same over the first 30 s after the opening (or the whole sale, if shorter).
        var cpuSecondsFirst30: [String: Double]
        var room: RoomFigures?

        init(
            name: String, measurements: Measurements, openingElapsed: UInt64, end: UInt64, soldOut: (all: [Int: Double], byShowtime: [Int: [Int: Double]]),
            showtimes: [Stage.Showtime], cpu: [String: Double], cpuEarly: [String: Double], room: RoomFigures?
        ) {
            let state = measurements.state.withLock { $0 }
            self.name = name
            self.showtimes = showtimes.map(\.id)
            peopleDoneSeconds = Double(Int64(end) - Int64(openingElapsed)) / 1e6
            seatsGoneSeconds = Dictionary(uniqueKeysWithValues: soldOut.all.map { (String($0.key), ($0.value * 10).rounded() / 10) })
            seatsGonePerShowtime = Dictionary(uniqueKeysWithValues: soldOut.byShowtime.map { showtime, times in
                (String(showtime), Dictionary(uniqueKeysWithValues: times.map { (String($0.key), ($0.value * 10).rounded() / 10) }))
            })
            sellOutSeconds = soldOut.all[100]
            mostlySoldSeconds = soldOut.all[90]
            holds = state.holdsAt.count
            conflicts = state.counters["conflicts"] ?? 0
            let confirmedTimes = state.confirmedAt.map { Double(Int64($0) - Int64(openingElapsed)) / 1e6 }
            confirmed = confirmedTimes.count
            if let sellOut = mostlySoldSeconds {
                confirmedBySellOut = confirmedTimes.filter { $0 <= sellOut }.count
                confirmedPerSecondBySellOut = sellOut > 0 ? (Double(confirmedBySellOut) / sellOut * 10).rounded() / 10 : nil
            } else {
                confirmedBySellOut = 0
            }
            var perSecond: [Int: Int] = [:]
            for time in confirmedTimes { perSecond[Int(time.rounded(.down)), default: 0] += 1 }
            peakConfirmedPerSecond = perSecond.values.max() ?? 0
            func ms(_ value: UInt64) -> Double { (Double(value) / 1000 * 100).rounded() / 100 }
            let hold = state.latencies["POST /showtimes/{id}/holds"]
            holdP50Milliseconds = hold.map { ms($0.valueAtPercentile(50)) } ?? 0
            holdP99Milliseconds = hold.map { ms($0.valueAtPercentile(99)) } ?? 0
            holdRequests = Int(hold?.totalCount ?? 0)
            latencies = state.latencies.keys.sorted().filter { $0 != "setup" && $0 != "check" }.map { endpoint in
                let histogram = state.latencies[endpoint]!
                return LaunchReport.Latency(
                    endpoint: endpoint, count: histogram.totalCount,
                    p50Milliseconds: ms(histogram.valueAtPercentile(50)), p95Milliseconds: ms(histogram.valueAtPercentile(95)),
                    p99Milliseconds: ms(histogram.valueAtPercentile(99)), maxMilliseconds: ms(histogram.max),
                    statuses: Dictionary(uniqueKeysWithValues: (state.statuses[endpoint] ?? [:]).map { (String($0.key), $0.value) })
                )
            }
            counters = state.counters
            cpuSeconds = cpu.filter { $0.value >= 0.05 }
            cpuSecondsFirst30 = cpuEarly.filter { $0.value >= 0.05 }
            self.room = room
        }
    }

    struct Summary: Codable {
        var users: Int
        var showtimes: Int
        var seatsPerShowtime: Int
        var concurrency: Int
        var preQueueSeconds: Double
        var arrivalSeconds: Double
        var queuePollMilliseconds: Int
        var queuePollMaxSeconds: Double
        var queueConnections: Int
        var queuePollsPerSecond: Int
        var queueStreams: Int
        var queueAdmissionsPerSecond: Int?
        var queueMaxActive: Int?
        var withoutRoom: Pass
        var withRoom: Pass
        /// The room's time until 90% of the seats were sold or held ÷ no room's (≤ 1.10 is the target).
        var sellOutRatio: Double?
        /// The room's confirmed bookings per second (by sell-out) ÷ no room's.
        var confirmedPerSecondRatio: Double?
        var latePayments: Int
        var invariants: InvariantReport
    }

    let summary: Summary

    init(options: LaunchOptions, seatsPerShowtime: Int, without: Pass, with: Pass, invariants: InvariantReport, latePayments: Int) {
        summary = Summary(
            users: options.users, showtimes: options.showtimes, seatsPerShowtime: seatsPerShowtime, concurrency: options.concurrency,
            preQueueSeconds: options.preQueueSeconds, arrivalSeconds: options.arrivalSeconds,
            queuePollMilliseconds: options.queuePollMilliseconds, queuePollMaxSeconds: options.queuePollMaxSeconds,
            queueConnections: options.queueConnections, queuePollsPerSecond: options.queuePollsPerSecond,
            queueStreams: options.queueStreams,
            queueAdmissionsPerSecond: options.queueAdmissionsPerSecond,
            queueMaxActive: options.queueMaxActive, withoutRoom: without, withRoom: with,
            sellOutRatio: with.mostlySoldSeconds.flatMap { room in without.mostlySoldSeconds.map { (room / $0 * 100).rounded() / 100 } },
            confirmedPerSecondRatio: with.confirmedPerSecondBySellOut.flatMap { room in
                without.confirmedPerSecondBySellOut.map { (room / $0 * 100).rounded() / 100 }
            },
            latePayments: latePayments, invariants: invariants
        )
    }

    func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return try encoder.encode(summary)
    }

    var markdown: String {
        let s = summary
        let a = s.withoutRoom, b = s.withRoom
        func f(_ value: Double?, _ digits: Int = 1) -> String { value.map { String(format: "%.\(digits)f", $0) } ?? "–" }
        func cpu(_ pass: Pass) -> String {
            pass.cpuSeconds.filter { $0.value >= 0.1 }.sorted { $0.value > $1.value }.prefix(5).map { "\($0.key) \(f($0.value))" }.joined(separator: ", ")
        }
        func cpuFirst(_ pass: Pass) -> String {
            pass.cpuSecondsFirst30.filter { $0.value >= 0.1 }.sorted { $0.value > $1.value }.prefix(5).map { "\($0.key) \(f($0.value))" }.joined(separator: ", ")
        }
        func gone(_ pass: Pass) -> String {
            SellOutSampler.thresholds.map { pass.seatsGoneSeconds[String($0)].map { f($0) } ?? "never" }.joined(separator: " / ") + " s"
        }
        let room = b.room
        var lines = [
            "## Waiting room: \(s.showtimes) showtimes × \(s.seatsPerShowtime) seats per sale, \(s.users) people (\(s.users / 4) over the \(f(s.preQueueSeconds, 0)) s before the opening, \(s.users - s.users / 4) over the \(f(s.arrivalSeconds, 0)) s after it)",
            "",
            "No room: \(s.concurrency) people shop at once, in order of arrival (early ones from the opening). Room: `waiting_room` always, admissions \(s.queueAdmissionsPerSecond.map { "\($0)/s" } ?? "the server's default") per showtime, active shoppers at most \(s.queueMaxActive.map(String.init) ?? "from the seats left"); up to \(s.queueStreams) waiting people at once follow their ticket's event stream (GET /queue/{ticket}/events), the others poll every \(s.queuePollMilliseconds) ms, or every estimated wait ÷ 4 (before the opening: time left ÷ 2) up to \(f(s.queuePollMaxSeconds, 0)) s (±25%); polls over \(s.queueConnections) connections of their own, all people's polls together at most \(s.queuePollsPerSecond)/s (the simulator's cap; not for those told 2 s or less), joins \(s.queueConnections) at a time over as many others.",
            "",
            "| measure | no room | waiting room |",
            "|---|---|---|",
            "| hold p50 / p99 (room: admitted shoppers only) | \(a.holdP50Milliseconds) / \(a.holdP99Milliseconds) ms (\(a.holdRequests) requests) | \(b.holdP50Milliseconds) / \(b.holdP99Milliseconds) ms (\(b.holdRequests) requests) |",
            "| seats sold or held (every showtime, sampled every 200 ms): 50 / 90 / 95 / 99 / 100% after | \(gone(a)) | \(gone(b)) |",
            "| 90% of the seats sold or held, room ÷ no room | | \(s.sellOutRatio.map { String(format: "%.2f", $0) + "×" } ?? "–") |",
            "| confirmed bookings until 90% sold or held, per second | \(a.confirmedBySellOut) (\(f(a.confirmedPerSecondBySellOut))/s) | \(b.confirmedBySellOut) (\(f(b.confirmedPerSecondBySellOut))/s, \(s.confirmedPerSecondRatio.map { String(format: "%.2f", $0) + "×" } ?? "–")) |",
            "| confirmed bookings in the whole sale (peak in one second) | \(a.confirmed) (\(a.peakConfirmedPerSecond)) | \(b.confirmed) (\(b.peakConfirmedPerSecond)) |",
            "| holds / conflicts (409) | \(a.holds) / \(a.conflicts) | \(b.holds) / \(b.conflicts) |",
            "| everyone done after the opening | \(f(a.peopleDoneSeconds)) s | \(f(b.peopleDoneSeconds)) s |",
            "| fairness after the opening: Kendall's tau, arrival vs admission order (per showtime) | – | \(f(room?.tauAfterOpeningMean, 3)) (\(room?.tauAfterOpening.map { String(format: "%.3f", $0) }.joined(separator: ", ") ?? "–"); \(room?.admittedLate ?? 0) admitted) |",
            "| fairness of the pre-queue: Kendall's tau, arrival vs admission order (per showtime) | – | \(f(room?.tauPreQueueMean, 3)) (\(room?.tauPreQueue.map { String(format: "%.3f", $0) }.joined(separator: ", ") ?? "–"); \(room?.admittedEarly ?? 0) admitted) |",
            "| first estimated wait after the opening vs actual: abs. error median / p90 | – | \(f(room?.estimateErrorMedianSeconds)) / \(f(room?.estimateErrorP90Seconds)) s (\(room?.estimates ?? 0) people; actual − estimate median \(f(room?.estimateBiasMedianSeconds)) s, actual wait median \(f(room?.actualWaitMedianSeconds)) s) |",
            "| the same, admitted before 90% of their showtime's seats were sold or held | – | \(f(room?.estimateErrorDuringSaleMedianSeconds)) / \(f(room?.estimateErrorDuringSaleP90Seconds)) s (\(room?.estimatesDuringSale ?? 0) people) |",
            "| queue joins per second: after the opening (peak in one second) / before | – | \(f(room?.joinsPerSecondAfterOpening)) (\(room?.peakJoinsInOneSecond ?? 0)) / \(f(room?.joinsPerSecondBeforeOpening)); \(room?.joins ?? 0) joins, p50 \(f(room?.joinP50Milliseconds, 2)) ms, p99 \(f(room?.joinP99Milliseconds, 2)) ms |",
            "| ticket polls | – | \(room?.polls ?? 0) (\(f(room?.pollsPerSecond))/s) |",
            "| how people left the room | – | \(room?.outcomes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") ?? "–") |",
            "| CPU seconds during the first 30 s after the opening (whole sale if shorter), by process | \(cpuFirst(a)) | \(cpuFirst(b)) |",
            "| CPU seconds during the whole sale, by process | \(cpu(a)) | \(cpu(b)) |",
            "| sold seats / confirmed bookings / succeeded payments / refunds (both sales) | \(s.invariants.soldSeats) / \(s.invariants.confirmedBookings) / \(s.invariants.succeededPayments) / \(s.invariants.refunds) | |",
            "| late payments sent (both sales) | \(s.latePayments) | |",
            "| invariant violations (both sales) | \(s.invariants.violations.count) | |",
        ]
        for pass in [a, b] {
            lines += ["", "\(pass.name):", "", "| endpoint | requests | p50 ms | p95 ms | p99 ms | max ms | statuses |", "|---|---|---|---|---|---|---|"]
            for latency in pass.latencies {
                let statuses = latency.statuses.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
                lines.append("| \(latency.endpoint) | \(latency.count) | \(latency.p50Milliseconds) | \(latency.p95Milliseconds) | \(latency.p99Milliseconds) | \(latency.maxMilliseconds) | \(statuses) |")
            }
            lines += ["", "Counters: " + pass.counters.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")]
        }
        if let figures = room?.serverFigures {
            lines += ["", "The rooms at the end (GET /admin/showtimes/{id}/queue):", ""] + figures.map { "- `\($0)`" }
        }
        for violation in s.invariants.violations { lines.append("- VIOLATION: \(violation)") }
        return lines.joined(separator: "\n") + "\n"
    }
}
