import AsyncHTTPClient
import Foundation
import Histogram
import HummingbirdWSClient
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// People who watch a showtime's live stream, over server-sent events or over WebSocket; each
/// `held` delta is timed from the moment the hold request that caused it was sent.
struct Watcher: Sendable {
    enum Transport: String, Sendable {
        case serverSentEvents = "sse"
        case webSocket = "ws"
    }

    let client: HTTPClient
    let baseURL: String
    let measurements: Measurements
    var transport: Transport = .serverSentEvents

    func watch(showtimeID: Int) async {
        switch transport {
        case .serverSentEvents: await watchEvents(showtimeID: showtimeID)
        case .webSocket: await watchSocket(showtimeID: showtimeID)
        }
    }

    /// `GET /showtimes/{id}/live`: `event: delta` / `data: {"version":…,"seats":[…]}`.
    private func watchEvents(showtimeID: Int) async {
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
                        let heldSeats = Self.heldSeats(in: line)
                        record(heldSeats: heldSeats, deltas: 1, showtimeID: showtimeID)
                    }
                }
                pending.discardReadBytes()
            }
            // The server ended the stream (a slow client is dropped) before the run did.
            if !Task.isCancelled { measurements.count("watchers_ended") }
        } catch {
            // Cancelled at the end of the run, or dropped as a slow client.
        }
    }

    /// `GET /showtimes/{id}/live` with `Upgrade: websocket`: JSON text messages, first
    /// `{"type":"snapshot",…}`, then `{"type":"deltas","version":…,"deltas":[{"version":…,"seats":[…]},…]}`.
    private func watchSocket(showtimeID: Int) async {
        let url = Self.webSocketURL(baseURL) + "/showtimes/\(showtimeID)/live"
        let measurements = measurements
        var logger = Logger(label: "launch.watcher")
        logger.logLevel = .critical
        do {
            // A snapshot of 1,000 seats is larger than the default 16 KiB frame.
            let close = try await WebSocketClient.connect(
                url: url, configuration: WebSocketClientConfiguration(maxFrameSize: 1 << 20), logger: logger
            ) { inbound, _, _ in
                measurements.count("watchers_connected_ws")
                do {
                    for try await message in inbound.messages(maxSize: 1 << 22) {
                        guard case .text(var text) = message else { continue }
                        let (heldSeats, deltas) = text.withUTF8 { utf8 in
                            let bytes = UnsafeRawBufferPointer(utf8)
                            // Only deltas are timed (a snapshot's held seats were held before it).
                            guard Self.starts(bytes, with: Self.deltasType) else { return ([Int](), 0) }
                            return (Self.heldSeats(in: bytes), Self.occurrences(of: Self.seatsKey, in: bytes))
                        }
                        if deltas > 0 {
                            Self.record(heldSeats: heldSeats, deltas: deltas, messages: 1, showtimeID: showtimeID, measurements: measurements, transport: .webSocket)
                        }
                    }
                } catch {
                    // Cancelled at the end of the run, or the connection broke.
                }
            }
            // The server closed the session (4100 too slow, 4101 resync, 1001 stopping) before the run ended.
            if !Task.isCancelled { measurements.count("watchers_ended_ws\(close.map { "_\($0.closeCode)" } ?? "")") }
        } catch {
            measurements.count(Task.isCancelled ? "watchers_cancelled_ws" : "watchers_failed_ws")
        }
    }

    /// `http://host:port` → `ws://host:port`.
    static func webSocketURL(_ baseURL: String) -> String {
        if baseURL.hasPrefix("https://") { return "wss://" + baseURL.dropFirst("https://".count) }
        if baseURL.hasPrefix("http://") { return "ws://" + baseURL.dropFirst("http://".count) }
        return baseURL
    }

    private static let deltasType = Array("{\"type\":\"deltas\"".utf8)
    private static let seatsKey = Array("\"seats\":".utf8)

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
        delta.withUnsafeReadableBytes { heldSeats(in: $0) }
    }

    /// The same over raw bytes: a WebSocket message, whose deltas (`{"type":"deltas",…,
    /// "deltas":[{"version":…,"seats":[…]},…]}`) are scanned the same way — its header holds no
    /// `"id":`, so the first seat's `}` ends an object that starts at the message's start.
    static func heldSeats(in bytes: UnsafeRawBufferPointer) -> [Int] {
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

    /// How often `needle` occurs in `bytes`.
    static func occurrences(of needle: [UInt8], in bytes: UnsafeRawBufferPointer) -> Int {
        var count = 0, from = 0
        while let start = find(needle, in: bytes, from: from, to: bytes.count) {
            count += 1
            from = start + needle.count
        }
        return count
    }

    static func starts(_ bytes: UnsafeRawBufferPointer, with prefix: [UInt8]) -> Bool {
        bytes.count >= prefix.count && bytes.prefix(prefix.count).elementsEqual(prefix)
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

    private func record(heldSeats: [Int], deltas: Int, showtimeID: Int) {
        Self.record(heldSeats: heldSeats, deltas: deltas, messages: deltas, showtimeID: showtimeID, measurements: measurements, transport: transport)
    }

    /// Each held seat's delay into the run's histogram and its transport's.
    private static func record(
        heldSeats: [Int], deltas: Int, messages: Int, showtimeID: Int, measurements: Measurements, transport: Transport
    ) {
        let now = measurements.elapsedMicroseconds
        measurements.state.withLock { state in
            switch transport {
            case .serverSentEvents:
                state.counters["deltas_received", default: 0] += deltas
            case .webSocket:
                state.counters["deltas_received_ws", default: 0] += deltas
                state.counters["delta_messages_received_ws", default: 0] += messages
            }
            for seat in heldSeats {
                guard let sent = state.holdSent[SeatKey(showtimeID: showtimeID, seatID: seat)] else { continue }
                let delay = max(1, now - min(now, sent))
                _ = state.liveDelays.record(delay)
                switch transport {
                case .serverSentEvents: _ = state.liveDelaysSSE.record(delay)
                case .webSocket: _ = state.liveDelaysWebSocket.record(delay)
                }
            }
        }
    }
}
