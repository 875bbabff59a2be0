import ArgumentParser
import BoxOffice
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The sandbox payment provider's side, for development: sends a payment's callback to the
/// server over HTTP, signed exactly as a real provider would.
struct SandboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sandbox",
        abstract: "Play the sandbox payment provider.",
        subcommands: [Pay.self]
    )

    struct Pay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send the signed callback that pays (or fails) a sandbox payment."
        )

        @Argument(help: "The payment id a checkout answered (sbx_…).")
        var payment: String

        @Flag(exclusivity: .exclusive, help: "Whether the payment succeeds or fails.")
        var outcome: Outcome = .succeed

        @Option(help: "The amount in minor units, as the booking's checkout answered it.")
        var amount: Int

        @Option(help: "The currency.")
        var currency = "EUR"

        @Option(help: "The server's base URL.")
        var url = "http://127.0.0.1:8080"

        @Option(help: "The signing secret (env BOXOFFICE_PAYMENT_SECRET; the server's default when unset).")
        var secret: String?

        enum Outcome: String, EnumerableFlag {
            case succeed, fail
        }

        func run() async throws {
            let secret = secret ?? ProcessInfo.processInfo.environment["BOXOFFICE_PAYMENT_SECRET"] ?? BoxOfficeSettings().paymentSecret
            let event = CheckoutService.PaymentEvent(
                eventID: "evt_" + UUID().canonical, paymentID: payment,
                status: outcome == .succeed ? "succeeded" : "failed", amount: amount, currency: currency
            )
            let body = try JSONEncoder().encode(event)
            guard let endpoint = URL(string: url + "/payments/callback") else {
                throw StartupError("--url '\(url)' is not a URL such as http://127.0.0.1:8080")
            }
            var request = URLRequest(url: endpoint)
            request.httpMethod = "POST"
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.setValue(PaymentSignature(secret: secret).header(for: Array(body)), forHTTPHeaderField: PaymentSignature.headerName)
            request.httpBody = body
            let (data, response) = try await URLSession.shared.data(for: request)
            let status = (response as? HTTPURLResponse)?.statusCode ?? 0
            print("\(status) \(String(decoding: data, as: UTF8.self))")
            if !(200..<300).contains(status) { throw ExitCode.failure }
        }
    }
}
