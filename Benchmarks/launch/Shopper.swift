import BoxOffice
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// How the simulated payment provider answers one checkout.
enum PaymentPlan: CaseIterable {
    case succeed, succeedTwice, fail, late, never

    /// Most succeed; some fail, some are sent twice, some come after the hold lapsed, some never.
    static func draw(_ random: inout some RandomNumberGenerator) -> PaymentPlan {
        switch Int.random(in: 0..<100, using: &random) {
        case 0..<80: .succeed
        case 80..<88: .succeedTwice
        case 88..<93: .fail
        case 93..<97: .late
        default: .never
        }
    }
}

/// What the simulated people share: the seat maps they have seen, the payments due late.
final class SaleBoard: Sendable {
    let layouts: [Int: ShowtimeSeats]
    /// Per showtime: a person reads with `If-None-Match` and falls back to this on 304, as a
    /// polling client would.
    let maps = Mutex<[Int: SeatMapSnapshot]>([:])
    let latePayments = Mutex<[LatePayment]>([])
    /// The next person to start shopping.
    let nextPerson = Atomic<Int>(0)

    init(layouts: [Int: ShowtimeSeats]) {
        self.layouts = layouts
    }
}

/// A payment to send after the holds lapsed.
struct LatePayment: Sendable {
    var paymentID: String
    var amount: Int
}

/// One person: reads the seat map, picks seats (near the centre, or best available), holds,
/// retries on conflict with other seats, checks out, and (as the provider) pays.
struct Shopper: Sendable {
    let api: API
    let signer: PaymentSignature
    let measurements: Measurements
    let board: SaleBoard

    /// Returns whether the person got seats (and went on to check out). A person admitted from
    /// a waiting room sends its `queuePass` with every hold.
    @discardableResult
    func shop(token: String, showtimeID: Int, prefersBest: Bool, seed: UInt64, queuePass: String? = nil) async -> Bool {
        var random = SplitMix(seed: seed)
        let wanted = [1, 2, 2, 2, 3, 4].randomElement(using: &random)!
        // Seats a 409 named as just taken: marked held on this person's map until it shows
        // them, as the web page does, so a retry goes for other seats.
        var taken = Set<Int>()
        // Errors (no answer, 5xx) do not use up a person's choices: they wait a little and try
        // again, as people do, up to a point.
        var errorsLeft = 6
        func waitAfterError() async -> Bool {
            errorsLeft -= 1
            guard errorsLeft >= 0 else { return false }
            try? await Task.sleep(for: .milliseconds(250 * (6 - errorsLeft)))
            return true
        }
        var choices = 0
        while choices < 4 {
            guard let map = await seatMap(showtimeID, token: token) else {
                if await waitAfterError() { continue }
                measurements.count("gave_up_after_errors")
                return false
            }
            let freeCount = map.freeCount
            if freeCount == 0 {
                let now = measurements.elapsedMicroseconds
                measurements.state.withLock { state in
                    state.counters["sold_out_seen", default: 0] += 1
                    if state.soldOutAt[showtimeID] == nil { state.soldOutAt[showtimeID] = now }
                }
                return false
            }
            let body: String
            var chosen: [Int] = []
            if prefersBest {
                body = "{\"count\": \(min(wanted, freeCount))}"
            } else {
                chosen = pickNearCentre(map, count: wanted, avoiding: taken, random: &random)
                body = "{\"seat_ids\": \(chosen)}"
            }
            let sentAt = measurements.elapsedMicroseconds
            guard let reply = try? await api.call(
                "POST /showtimes/{id}/holds", .POST, "/showtimes/\(showtimeID)/holds", token: token, json: body,
                headers: queuePass.map { [("Queue-Pass", $0)] } ?? []
            ),
                  reply.status < 500 else {
                measurements.count("hold_errors")
                if await waitAfterError() { continue }
                measurements.count("gave_up_after_errors")
                return false
            }
            choices += 1
            switch reply.status {
            case 201:
                let heldSeats = (reply.json["seats"] as? [[String: Any]])?.compactMap { $0["id"] as? Int } ?? chosen
                measurements.state.withLock { state in
                    for seat in heldSeats { state.holdSent[SeatKey(showtimeID: showtimeID, seatID: seat)] = sentAt }
                    state.holdsAt.append(measurements.elapsedMicroseconds)
                }
                await checkOut(reply, token: token, random: &random)
                return true
            case 409:
                measurements.count("conflicts")
                taken.formUnion(reply.json["seat_ids"] as? [Int] ?? [])
                continue
            case 429:
                try? await Task.sleep(for: .milliseconds(200))
                continue
            default:
                measurements.count("hold_errors")
                if let code = reply.json["code"] as? String ?? (reply.json["error"] as? [String: Any])?["code"] as? String {
                    measurements.count("hold_refused_\(code)")
                }
                return false
            }
        }
        measurements.count("gave_up")
        return false
    }

    private func seatMap(_ showtimeID: Int, token: String) async -> SeatMapSnapshot? {
        let cached = board.maps.withLock { $0[showtimeID] }
        let headers = cached.map { [("If-None-Match", $0.etag)] } ?? []
        // The layout was read once; polls ask for the statuses only, as a polling client would.
        guard let reply = try? await api.call(
            "GET /showtimes/{id}/seats?view=statuses", .GET, "/showtimes/\(showtimeID)/seats?view=statuses", headers: headers
        ) else {
            measurements.count("transport_errors")
            return nil
        }
        // Served from PostgreSQL while Redis is down: counted, and good enough to choose from.
        if reply.status == 200, String(buffer: reply.body).contains("\"degraded\":true") {
            measurements.count("degraded_seat_maps")
        }
        if reply.status == 304, let cached { return cached }
        guard reply.status == 200, let etag = reply.headers.first(name: "ETag") else { return nil }
        guard let layout = board.layouts[showtimeID], let free = layout.availability(inStatuses: reply.body) else {
            measurements.count("unreadable_seat_maps")
            return nil
        }
        let snapshot = SeatMapSnapshot(etag: etag, layout: layout, free: free)
        board.maps.withLock { all in all[showtimeID] = snapshot }
        return snapshot
    }

    /// People crowd the centre: one of the best few free seats, and its free neighbours.
    private func pickNearCentre(_ map: SeatMapSnapshot, count: Int, avoiding taken: Set<Int>, random: inout SplitMix) -> [Int] {
        let layout = map.layout
        func isFree(_ index: Int) -> Bool { map.free[index] && !taken.contains(layout.seats[index].id) }
        let bestFree = Array(layout.byCentre.lazy.filter(isFree).prefix(12))
        // Everything this person still sees free was named taken: try the map's own best.
        let anchor = layout.seats[(bestFree.isEmpty ? Array(layout.byCentre.lazy.filter { map.free[$0] }.prefix(12)) : bestFree)
            .randomElement(using: &random)!]
        func freeSeat(at number: Int) -> Int? {
            layout.index(row: anchor.row, number: number).flatMap { isFree($0) ? layout.seats[$0].id : nil }
        }
        var block = [anchor.id]
        var offset = 1
        while block.count < count, offset < count * 2 {
            if let right = freeSeat(at: anchor.number + offset) { block.append(right) }
            if block.count < count, let left = freeSeat(at: anchor.number - offset) { block.append(left) }
            offset += 1
        }
        return block
    }

    private func checkOut(_ hold: Reply, token: String, random: inout SplitMix) async {
        guard let holdID = hold.json["id"] as? String else {
            measurements.count("checkout_errors")
            return
        }
        // Checkout is idempotent per hold: after no answer or a 5xx, the same request again.
        var checkout: Reply?
        for attempt in 0..<5 {
            if attempt > 0 { try? await Task.sleep(for: .milliseconds(250 * attempt)) }
            checkout = try? await api.call("POST /holds/{id}/checkout", .POST, "/holds/\(holdID)/checkout", token: token)
            if let status = checkout?.status, status < 500 { break }
            measurements.count("checkout_retries")
        }
        if let status = checkout?.status, status == 404 || status == 410 {
            // The hold is gone: e.g. it lived only on a Redis primary that failed before its replica had it.
            measurements.count("holds_lost")
        }
        guard let checkout,
              checkout.status == 201,
              let paymentID = checkout.json["payment_id"] as? String,
              let amount = checkout.json["amount"] as? Int else {
            measurements.count("checkout_errors")
            return
        }
        switch PaymentPlan.draw(&random) {
        case .succeed:
            await pay(paymentID, amount: amount)
        case .succeedTwice:
            let eventID = "evt_" + UUID().uuidString
            async let first: Void = pay(paymentID, amount: amount, eventID: eventID)
            async let second: Void = pay(paymentID, amount: amount, eventID: eventID)
            _ = await (first, second)
        case .fail:
            await pay(paymentID, amount: amount, status: "failed")
        case .late:
            board.latePayments.withLock { $0.append(LatePayment(paymentID: paymentID, amount: amount)) }
        case .never:
            measurements.count("payments_never_sent")
        }
    }

    /// Sends the provider's signed callback; like real providers, again (the same event, a new
    /// signature) with growing waits while it gets no 2xx.
    func pay(_ paymentID: String, amount: Int, status: String = "succeeded", eventID: String = "evt_" + UUID().uuidString) async {
        let event = CheckoutService.PaymentEvent(eventID: eventID, paymentID: paymentID, status: status, amount: amount, currency: "EUR")
        guard let body = try? JSONEncoder().encode(event) else { return }
        var answered: Reply?
        for attempt in 0..<10 {
            if attempt > 0 {
                measurements.count("callback_retries")
                try? await Task.sleep(for: .milliseconds(min(5_000, 250 << (attempt - 1))))
            }
            let header = signer.header(for: Array(body))
            answered = try? await api.call(
                "POST /payments/callback", .POST, "/payments/callback",
                json: String(decoding: body, as: UTF8.self), headers: [(PaymentSignature.headerName, header)]
            )
            if let status = answered?.status, (200..<300).contains(status) { break }
        }
        guard let reply = answered else {
            measurements.count("callbacks_never_answered")
            return
        }
        let outcome = reply.json["outcome"] as? String ?? "http_\(reply.status)"
        measurements.count("callback_" + outcome)
        if status == "succeeded" { measurements.count("succeeded_callbacks_sent") }
        if outcome == "confirmed" {
            measurements.state.withLock { $0.confirmedAt.append(measurements.elapsedMicroseconds) }
        }
    }
}

/// A small, fast, seedable generator: each person's choices are reproducible from the run's seed.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
