import AsyncHTTPClient
import Foundation
import Histogram
import NIOHTTP1
import Synchronization
import NIOCore

/// People who watch a showtime's live stream; each `held` delta is timed from the moment the
/// hold request that caused it was sent.
struct Watcher: Sendable {
    let client: HTTPClient
    let baseURL: String
    let measurements: Measurements

    func watch(showtimeID: Int) async {
        let request = HTTPClientRequest(url: baseURL + "/showtimes/\(showtimeID)/live")
        guard let response = try? await client.execute(request, timeout: .hours(1)), response.status == .ok else {
            measurements.count("watchers_failed")
            return
        }
        measurements.count("watchers_connected")
        var pending = ""
        var event = ""
        do {
            for try await chunk in response.body {
                pending += String(buffer: chunk).replacingOccurrences(of: "\r\n", with: "\n")
                while let newline = pending.firstIndex(of: "\n") {
                    let line = String(pending[..<newline])
                    pending.removeSubrange(...newline)
                    if line.hasPrefix("event: ") { event = String(line.dropFirst(7)) }
                    guard event == "delta", line.hasPrefix("data: ") else { continue }
                    record(delta: Data(line.dropFirst(6).utf8), showtimeID: showtimeID)
                }
            }
        } catch {
            // Cancelled at the end of the run, or dropped as a slow client.
        }
    }

    private func record(delta: Data, showtimeID: Int) {
        guard let object = try? JSONSerialization.jsonObject(with: delta) as? [String: Any],
              let seats = object["seats"] as? [[String: Any]] else { return }
        let now = measurements.elapsedMicroseconds
        measurements.state.withLock { state in
            state.counters["deltas_received", default: 0] += 1
            for seat in seats where seat["status"] as? String == "held" {
                guard let id = seat["id"] as? Int, let sent = state.holdSent["\(showtimeID):\(id)"] else { continue }
                _ = state.liveDelays.record(max(1, now - min(now, sent)))
            }
        }
    }
}
