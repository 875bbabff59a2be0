#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An IP address or a CIDR block (`10.0.0.0/8`, `192.0.2.7`, `fd00::/8`, `::1`).
public struct IPAddressRange: Sendable, Equatable, CustomStringConvertible {
    /// 4 bytes (IPv4) or 16 (IPv6); IPv4-mapped IPv6 addresses are kept as IPv4.
    let network: [UInt8]
    let prefixLength: Int

    public init?(_ text: String) {
        let parts = text.trimmingWhitespace.split(separator: "/", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let address = Self.address(String(parts[0])) else { return nil }
        let bits = address.count * 8
        guard let length = parts.count == 2 ? Int(parts[1]) : bits, (0...bits).contains(length) else { return nil }
        network = address
        prefixLength = length
    }

    public func contains(_ address: [UInt8]) -> Bool {
        guard address.count == network.count else { return false }
        var left = prefixLength
        for (mine, theirs) in zip(network, address) where left > 0 {
            let mask: UInt8 = left >= 8 ? 0xFF : ~(0xFF >> UInt8(left))
            if mine & mask != theirs & mask { return false }
            left -= 8
        }
        return true
    }

    public var description: String {
        "\(Self.text(network))/\(prefixLength)"
    }

    /// The bytes of an IPv4 or IPv6 address in text, or nil.
    static func address(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        let bytes = withUnsafeBytes(of: &v6) { Array($0) }
        // ::ffff:a.b.c.d is an IPv4 peer on a dual-stack socket.
        if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF { return Array(bytes[12...]) }
        return bytes
    }

    /// The canonical text of an address's bytes.
    static func text(_ bytes: [UInt8]) -> String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let family = bytes.count == 4 ? AF_INET : AF_INET6
        let written = bytes.withUnsafeBytes { inet_ntop(family, $0.baseAddress, &buffer, socklen_t(buffer.count)) }
        guard written != nil else { return "" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Who sent a request, for per-client limits: the connection's peer, unless the peer is a
/// trusted proxy (`BOXOFFICE_TRUSTED_PROXIES`); then the nearest address in
/// `X-Forwarded-For` that is not one. Read from the right, since a client can put anything on
/// the left of that header, but each trusted proxy appends the address it saw.
public struct ClientAddressResolver: Sendable {
    let trustedProxies: [IPAddressRange]

    public init(trustedProxies: [IPAddressRange] = []) {
        self.trustedProxies = trustedProxies
    }

    /// `BOXOFFICE_TRUSTED_PROXIES`: addresses or CIDR blocks separated by commas; a failure
    /// names the first entry that is neither.
    public static func parse(_ list: String) -> Result<[IPAddressRange], InvalidEntry> {
        var ranges: [IPAddressRange] = []
        for entry in list.split(separator: ",").map({ String($0).trimmingWhitespace }) where !entry.isEmpty {
            guard let range = IPAddressRange(entry) else { return .failure(InvalidEntry(entry: entry)) }
            ranges.append(range)
        }
        return .success(ranges)
    }

    public struct InvalidEntry: Error, Sendable {
        public let entry: String
    }

    /// The client's address as text, or nil when the connection has no peer address.
    public func clientAddress(peer: String?, forwardedFor: [String]) -> String? {
        guard let peer, let peerBytes = IPAddressRange.address(peer) else { return peer }
        guard isTrusted(peerBytes) else { return IPAddressRange.text(peerBytes) }
        var nearest = peerBytes
        let hops = forwardedFor.flatMap { $0.split(separator: ",") }.map { Self.stripPort(String($0).trimmingWhitespace) }
        for hop in hops.reversed() {
            // Garbage can only come from a client or an untrusted hop: the last good address stands.
            guard let bytes = IPAddressRange.address(hop) else { break }
            nearest = bytes
            if !isTrusted(bytes) { break }
        }
        return IPAddressRange.text(nearest)
    }

    /// The unit per-client limits count: an IPv4 address, or an IPv6 address's /64 (one
    /// customer's network: a client that holds a /64 could otherwise take a fresh address for
    /// every try).
    public static func limitKey(_ address: String) -> String {
        guard let bytes = IPAddressRange.address(address), bytes.count == 16 else { return address }
        return IPAddressRange.text(Array(bytes[0..<8]) + Array(repeating: 0, count: 8)) + "/64"
    }

    private func isTrusted(_ address: [UInt8]) -> Bool {
        trustedProxies.contains { $0.contains(address) }
    }

    /// `[2001:db8::1]:443` → `2001:db8::1`; `192.0.2.7:8080` → `192.0.2.7`.
    static func stripPort(_ hop: String) -> String {
        if hop.hasPrefix("["), let close = hop.firstIndex(of: "]") {
            return String(hop[hop.index(after: hop.startIndex)..<close])
        }
        if hop.filter({ $0 == ":" }).count == 1, let colon = hop.firstIndex(of: ":") { return String(hop[..<colon]) }
        return hop
    }
}

extension String {
    fileprivate var trimmingWhitespace: String {
        String(self.drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}
