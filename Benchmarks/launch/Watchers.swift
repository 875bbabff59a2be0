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
        var pending = ByteBuffer()
        var isDelta = false
        do {
            for try await chunk in response.body {
                var chunk = chunk
                pending.writeBuffer(&chunk)
                // Server-sent events, a line at a time; only deltas are timed.
                while let newline = pending.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
                    let length = newline - pending.readerIndex
                    guard var line = pending.readSlice(length: length + 1) else { break }
                    line.moveWriterIndex(to: line.writerIndex - 1)
                    if line.readableBytesView.last == UInt8(ascii: "\r") { line.moveWriterIndex(to: line.writerIndex - 1) }
                    if line.readableBytesView.starts(with: Self.eventPrefix) {
                        isDelta = line.readableBytesView.dropFirst(Self.eventPrefix.count).elementsEqual(Self.delta)
                    } else if isDelta, line.readableBytesView.starts(with: Self.dataPrefix) {
                        line.moveReaderIndex(forwardBy: Self.dataPrefix.count)
                        record(delta: line, showtimeID: showtimeID)
                    }
                }
                pending.discardReadBytes()
            }
        } catch {
            // Cancelled at the end of the run, or dropped as a slow client.
        }
    }

    private static let eventPrefix = Array("event: ".utf8)
    private static let delta = Array("delta".utf8)
    private static let dataPrefix = Array("data: ".utf8)

    private static let idKey = Array("\"id\":".utf8)
    private static let held = Array("\"status\":\"held\"".utf8)

    /// The ids of the seats a delta marks `held`: `{"version":…,"seats":[{"id":3,"status":"held"},…]}`,
    /// its seat objects' keys in any order. Scanned byte by byte, not decoded: 200 watchers
    /// receive every delta (decoding them, and then Foundation's generic `firstRange`, each cost
    /// the load generator more than anything else it did).
    static func heldSeats(in delta: ByteBuffer) -> [Int] {
        delta.withUnsafeReadableBytes { bytes in
            var seats: [Int] = []
            var objectStart = 0
            // Each seat object's fields end at its `}`; no value in a delta contains one.
            for index in bytes.indices where bytes[index] == UInt8(ascii: "}") {
                defer { objectStart = index + 1 }
                guard find(held, in: bytes, from: objectStart, to: index) != nil,
                      var digit = find(idKey, in: bytes, from: objectStart, to: index).map({ $0 + idKey.count }) else { continue }
                var id = 0, digits = 0
                while digit < index, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[digit]) {
                    id = id * 10 + Int(bytes[digit] - UInt8(ascii: "0"))
                    digit += 1
                    digits += 1
                }
                if digits > 0 { seats.append(id) }
            }
            return seats
        }
    }

    /// Where `needle` first starts in `bytes[from..<to]`.
    private static func find(_ needle: [UInt8], in bytes: UnsafeRawBufferPointer, from: Int, to: Int) -> Int? {
        guard to - from >= needle.count else { return nil }
        candidates: for start in from...(to - needle.count) {
            for offset in needle.indices where bytes[start + offset] != needle[offset] { continue candidates }
            return start
        }
        return nil
    }

    private func record(delta: ByteBuffer, showtimeID: Int) {
        let heldSeats = Self.heldSeats(in: delta)
        let now = measurements.elapsedMicroseconds
        measurements.state.withLock { state in
            state.counters["deltas_received", default: 0] += 1
            for seat in heldSeats {
                guard let sent = state.holdSent[SeatKey(showtimeID: showtimeID, seatID: seat)] else { continue }
                _ = state.liveDelays.record(max(1, now - min(now, sent)))
            }
        }
    }
}
