public import BoxOffice
import Crypto
import Foundation
public import Hummingbird

/// Webhooks an admin registers: signed notifications of bookings, refunds and showtimes.
public struct WebhooksController: Sendable {
    let store: NotificationStore
    let targets: WebhookTargets

    public init(store: NotificationStore, targets: WebhookTargets) {
        self.store = store
        self.targets = targets
    }

    public func addRoutes(to router: Router<AppRequestContext>) {
        /// Registers a receiver for some events: 201 with its secret (shown this once).
        router.post("/admin/webhooks") { request, context in
            _ = try context.require(.manageWebhooks)
            let input = try await request.decodeJSON(as: WebhookInput.self, context: context)
            var validator = Validator()
            let url = Result { () throws(BoxOfficeError) -> URL in try targets.check(input.url) }
            validator.check(!input.events.isEmpty, "events", "name at least one event.")
            let unknown = input.events.filter { NotificationEventType(rawValue: $0) == nil }
            validator.check(unknown.isEmpty, "events", "unknown: \(unknown.joined(separator: ", ")); known: \(NotificationEventType.allCases.map(\.rawValue).joined(separator: ", ")).")
            validator.check(Set(input.events).count == input.events.count, "events", "name each event once.")
            if let secret = input.secret {
                validator.check((16...200).contains(secret.utf8.count), "secret", "must be 16 to 200 bytes.")
            }
            if case .failure(let error) = url, error.code == "webhook_target_private" { throw error }
            if case .failure(let error) = url { validator.check(false, "url", error.fieldErrors.first?.message ?? error.message) }
            try validator.validate()
            let secret = input.secret ?? Self.newSecret()
            let webhook = try await store.register(
                url: input.url, events: input.events.compactMap(NotificationEventType.init(rawValue:)), secret: secret
            )
            return EditedResponse(status: .created, headers: [.location: "/admin/webhooks/\(webhook.id.canonical)"],
                                  response: SchedulingJSON(WebhookBody(webhook, secret: secret)))
        }
        /// The registered webhooks (without their secrets).
        router.get("/admin/webhooks") { _, context in
            _ = try context.require(.manageWebhooks)
            return SchedulingJSON(WebhookList(items: try await store.webhooks().map { WebhookBody($0, secret: nil) }))
        }
        /// Stops deliveries to a webhook; those pending are given up.
        router.delete("/admin/webhooks/:id") { _, context in
            _ = try context.require(.manageWebhooks)
            guard let id = UUID(uuidString: context.parameters.get("id") ?? ""), try await store.delete(id) else {
                throw BoxOfficeError.notFound("Webhook '\(context.parameters.get("id") ?? "")'")
            }
            return Response(status: .noContent)
        }
        /// A webhook's latest deliveries with their attempts, newest first.
        router.get("/admin/webhooks/:id/deliveries") { request, context in
            _ = try context.require(.manageWebhooks)
            var validator = Validator()
            let limit = SchedulingQuery.integer(request, "limit", default: 50, &validator) ?? 50
            validator.check((1...200).contains(limit), "limit", "must be from 1 to 200.")
            try validator.validate()
            guard let id = UUID(uuidString: context.parameters.get("id") ?? ""),
                  let deliveries = try await store.deliveries(webhook: id, limit: limit)
            else { throw BoxOfficeError.notFound("Webhook '\(context.parameters.get("id") ?? "")'") }
            return SchedulingJSON(DeliveryList(items: deliveries.map(DeliveryBody.init)))
        }
    }

    static func newSecret() -> String {
        SymmetricKey(size: .bits256).withUnsafeBytes { $0.map { String(format: "%02x", $0) }.joined() }
    }
}

struct WebhookInput: Decodable {
    var url: String
    var events: [String]
    var secret: String?
}

struct WebhookBody: Encodable, Sendable {
    var id: String
    var url: String
    var events: [String]
    var createdAt: String
    var secret: String?

    enum CodingKeys: String, CodingKey {
        case id, url, events, secret
        case createdAt = "created_at"
    }

    init(_ webhook: Webhook, secret: String?) {
        id = webhook.id.canonical
        url = webhook.url
        events = webhook.events
        createdAt = SchedulingTime.format(webhook.createdAt)
        self.secret = secret
    }
}

struct WebhookList: Encodable, Sendable {
    var items: [WebhookBody]
}

struct DeliveryBody: Encodable, Sendable {
    var id: Int
    var eventID: String
    var eventType: String
    var status: String
    var attempts: Int
    var nextAttemptAt: String?
    var lastAttemptAt: String?
    var lastStatus: Int?
    var lastError: String?
    var deliveredAt: String?

    enum CodingKeys: String, CodingKey {
        case id, status, attempts
        case eventID = "event_id"
        case eventType = "event_type"
        case nextAttemptAt = "next_attempt_at"
        case lastAttemptAt = "last_attempt_at"
        case lastStatus = "last_status"
        case lastError = "last_error"
        case deliveredAt = "delivered_at"
    }

    init(_ record: WebhookDeliveryRecord) {
        id = record.id
        eventID = record.eventID.canonical
        eventType = record.eventType
        status = record.status
        attempts = record.attempts
        nextAttemptAt = record.nextAttemptAt.map(SchedulingTime.format)
        lastAttemptAt = record.lastAttemptAt.map(SchedulingTime.format)
        lastStatus = record.lastStatus
        lastError = record.lastError
        deliveredAt = record.deliveredAt.map(SchedulingTime.format)
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(eventID, forKey: .eventID)
        try container.encode(eventType, forKey: .eventType)
        try container.encode(status, forKey: .status)
        try container.encode(attempts, forKey: .attempts)
        try container.encode(nextAttemptAt, forKey: .nextAttemptAt)
        try container.encode(lastAttemptAt, forKey: .lastAttemptAt)
        try container.encode(lastStatus, forKey: .lastStatus)
        try container.encode(lastError, forKey: .lastError)
        try container.encode(deliveredAt, forKey: .deliveredAt)
    }
}

struct DeliveryList: Encodable, Sendable {
    var items: [DeliveryBody]
}
