import AsyncHTTPClient
public import BoxOffice
import Foundation
import Glibc
public import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
public import ServiceLifecycle

/// Where webhooks may point: URLs an admin types, so never at this service's own network
/// (loopback, private, link-local, carrier-grade NAT, unspecified) unless a setting allows it
/// (tests and `scripts/run` do).
public struct WebhookTargets: Sendable {
    public var allowPrivate: Bool

    public init(allowPrivate: Bool) {
        self.allowPrivate = allowPrivate
    }

    static let privateRanges: [IPAddressRange] = [
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16",
        "::/128", "::1/128", "fc00::/7", "fe80::/10",
    ].compactMap(IPAddressRange.init)

    static func isPrivate(_ address: [UInt8]) -> Bool {
        privateRanges.contains { $0.contains(address) }
    }

    /// 422 for a URL that is not an absolute http(s) URL, or (unless allowed) names a private
    /// address or `localhost`. Host names are checked again when delivering, once resolved.
    func check(_ text: String) throws(BoxOfficeError) -> URL {
        guard text.utf8.count <= 2000, let url = URL(string: text), let scheme = url.scheme?.lowercased(),
              scheme == "http" || scheme == "https", let host = url.host, !host.isEmpty, url.user == nil
        else {
            throw .validation(field: "url", "must be an absolute http or https URL without credentials, at most 2000 characters.")
        }
        guard !allowPrivate else { return url }
        let bare = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")).lowercased()
        if bare == "localhost" || bare.hasSuffix(".localhost") || IPAddressRange.address(bare).map(Self.isPrivate) == true {
            throw BoxOfficeError(.validation, code: "webhook_target_private",
                                 message: "Webhooks may not point at loopback, private or link-local addresses.",
                                 fieldErrors: [.init(field: "url", message: "names a private address.")])
        }
        return url
    }

    /// Resolves `host` off the cooperative pool; nil when every address it has is allowed.
    func refusal(host: String) async -> String? {
        guard !allowPrivate else { return nil }
        let addresses: [[UInt8]]
        do {
            addresses = try await NIOThreadPool.singleton.runIfActive { Self.resolve(host) }
        } catch {
            return "cannot resolve \(host): \(error)"
        }
        if addresses.isEmpty { return "cannot resolve \(host)" }
        return addresses.contains(where: Self.isPrivate) ? "\(host) resolves to a private address" : nil
    }

    /// getaddrinfo: blocking, so only ever called on a thread pool.
    private static func resolve(_ host: String) -> [[UInt8]] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &list) == 0, let first = list else { return [] }
        defer { freeaddrinfo(first) }
        var addresses: [[UInt8]] = []
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let current = entry {
            if let socket = current.pointee.ai_addr {
                if current.pointee.ai_family == AF_INET {
                    socket.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { pointer in
                        var address = pointer.pointee.sin_addr
                        addresses.append(withUnsafeBytes(of: &address) { Array($0) })
                    }
                } else if current.pointee.ai_family == AF_INET6 {
                    socket.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { pointer in
                        var address = pointer.pointee.sin6_addr
                        addresses.append(withUnsafeBytes(of: &address) { Array($0) })
                    }
                }
            }
            entry = current.pointee.ai_next
        }
        return addresses
    }
}

/// Delivers notifications to webhooks: every instance runs one. It claims due deliveries
/// (`FOR UPDATE SKIP LOCKED`, leased) into a fixed number of slots and posts each with its own
/// short deadline and no redirects followed, so a slow receiver holds up nobody else; then files
/// each outcome as the `DeliveryPolicy` says (retry with growing waits, dead after the last).
/// At least once: a receiver de-duplicates by `BoxOffice-Event-Id`.
public struct WebhookDeliverer: Service {
    let store: NotificationStore
    let policy: DeliveryPolicy
    let targets: WebhookTargets
    let timeout: Duration
    let interval: Duration
    let concurrency = 32
    let logger: Logger

    public init(
        store: NotificationStore, policy: DeliveryPolicy, targets: WebhookTargets, timeout: Duration = .seconds(5),
        interval: Duration = .milliseconds(500), logger: Logger
    ) {
        self.store = store
        self.policy = policy
        self.targets = targets
        self.timeout = timeout
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.timeout = .init(connect: Self.timeAmount(timeout), read: Self.timeAmount(timeout))
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        await periodicallyDeliver(client)
        try? await client.shutdown()
    }

    /// Up to `concurrency` deliveries in flight: a slow receiver holds up only its own slot.
    private func periodicallyDeliver(_ client: HTTPClient) async {
        // The lease outlasts an attempt's deadline, so a live worker's delivery is never taken twice.
        await inSlots(concurrency, every: interval, logger: logger, failure: "webhook delivery pass failed") { free in
            try await store.claim(limit: free, lease: timeout * 3)
        } run: { delivery in
            await deliver(delivery, client)
        }
    }

    private func deliver(_ delivery: DueDelivery, _ client: HTTPClient) async {
        var status: Int?
        var failure: String?
        if let url = URL(string: delivery.url), let host = url.host, let refusal = await targets.refusal(host: host) {
            failure = refusal
        } else {
            let body = Array(Self.body(delivery).utf8)
            var request = HTTPClientRequest(url: delivery.url)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "User-Agent", value: "BoxOffice-Webhooks/1")
            request.headers.add(name: "BoxOffice-Event-Id", value: delivery.eventID.canonical)
            request.headers.add(name: "BoxOffice-Event-Type", value: delivery.eventType)
            request.headers.add(name: PaymentSignature.headerName, value: PaymentSignature(secret: delivery.secret).header(for: body))
            request.body = .bytes(ByteBuffer(bytes: body))
            do {
                let response = try await client.execute(request, timeout: Self.timeAmount(timeout))
                status = Int(response.status.code)
                // The body is not read beyond a little: a receiver cannot make us download much.
                _ = try? await response.body.collect(upTo: 64 * 1024)
                if !DeliveryPolicy.isSuccess(status: Int(response.status.code)) { failure = "answered \(response.status.code)" }
            } catch {
                failure = "\(error)"
            }
        }
        let next = policy.next(afterAttempt: delivery.attempt, succeeded: failure == nil)
        if case .dead = next {
            logger.warning("a webhook delivery was given up", metadata: [
                "delivery": "\(delivery.id)", "event": "\(delivery.eventID.canonical)", "attempts": "\(delivery.attempt)",
            ])
        }
        do {
            try await store.record(delivery, next: next, status: status, error: failure)
        } catch {
            // Its lease runs out and it is tried again: at least once.
            logger.warning("could not record a webhook delivery", metadata: ["delivery": "\(delivery.id)", "error": "\(error)"])
        }
    }

    static func timeAmount(_ duration: Duration) -> TimeAmount {
        .milliseconds(duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000)
    }

    /// `{"id":…,"type":…,"created_at":…,"data":{…}}`.
    static func body(_ delivery: DueDelivery) -> String {
        "{\"id\":\"\(delivery.eventID.canonical)\",\"type\":\"\(delivery.eventType)\",\"created_at\":\"\(SchedulingTime.format(delivery.createdAt))\",\"data\":\(delivery.payload)}"
    }
}
