import AsyncHTTPClient
import Foundation
import Histogram
import NIOCore
import NIOHTTP1
import Synchronization

/// What the run measured: latencies per endpoint, statuses, and counters. Shared by every
/// simulated person, so it sits behind one lock; recording is a few nanoseconds.
final class Measurements: Sendable {
    struct State {
        var latencies: [String: Histogram<UInt64>] = [:]
        var statuses: [String: [Int: Int]] = [:]
        var counters: [String: Int] = [:]
        var liveDelays = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        /// The same delays by transport: server-sent events and WebSocket.
        var liveDelaysSSE = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        var liveDelaysWebSocket = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        /// When a hold request for a seat was sent (µs since the run's start), to time its delta.
        var holdSent: [SeatKey: UInt64] = [:]
        var confirmedAt: [UInt64] = []
        var holdsAt: [UInt64] = []
        /// When each waiting-room join was answered (`launch --waiting-room`).
        var joinsAt: [UInt64] = []
        /// When someone first saw each showtime with no free seat.
        var soldOutAt: [Int: UInt64] = [:]
        /// Every 5xx and every request that got no answer ("transport"), when.
        var errors: [(UInt64, String)] = []
        /// The faults injected (`--fault`), when.
        var faults: [(UInt64, String)] = []
    }

    let start = ContinuousClock.now
    let state = Mutex(State())

    var elapsedMicroseconds: UInt64 {
        let elapsed = ContinuousClock.now - start
        return UInt64(elapsed.components.seconds) * 1_000_000 + UInt64(elapsed.components.attoseconds / 1_000_000_000_000)
    }

    func record(_ endpoint: String, status: Int, microseconds: UInt64) {
        state.withLock { state in
            if state.latencies[endpoint] == nil {
                state.latencies[endpoint] = Histogram(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
            }
            _ = state.latencies[endpoint]!.record(max(1, microseconds))
            state.statuses[endpoint, default: [:]][status, default: 0] += 1
        }
    }

    func count(_ name: String, by amount: Int = 1) {
        state.withLock { $0.counters[name, default: 0] += amount }
    }

    func counter(_ name: String) -> Int {
        state.withLock { $0.counters[name] ?? 0 }
    }
}

struct SeatKey: Hashable {
    var showtimeID: Int
    var seatID: Int
}

/// A response, read whole.
struct Reply {
    var status: Int
    var headers: HTTPHeaders
    var body: ByteBuffer

    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any]) ?? [:]
    }
}

/// HTTP to the server under test, timed per endpoint.
struct API: Sendable {
    let client: HTTPClient
    let baseURL: String
    let measurements: Measurements

    func call(
        _ endpoint: String, _ method: HTTPMethod, _ path: String, token: String? = nil,
        json: String? = nil, headers extra: [(String, String)] = []
    ) async throws -> Reply {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        for (name, value) in extra { request.headers.add(name: name, value: value) }
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: json))
        }
        let started = measurements.elapsedMicroseconds
        do {
            // A dead instance must not hold anyone for a whole request timeout: HAProxy (or the
            // person) gives up on it long before 30 s.
            let response = try await client.execute(request, timeout: .seconds(10))
            let body = try await response.body.collect(upTo: 16 * 1024 * 1024)
            let status = Int(response.status.code)
            let now = measurements.elapsedMicroseconds
            measurements.record(endpoint, status: status, microseconds: now - started)
            if status >= 500 { measurements.state.withLock { $0.errors.append((now, String(status))) } }
            return Reply(status: status, headers: response.headers, body: body)
        } catch {
            let now = measurements.elapsedMicroseconds
            measurements.state.withLock { $0.errors.append((now, "transport")) }
            throw error
        }
    }
}
