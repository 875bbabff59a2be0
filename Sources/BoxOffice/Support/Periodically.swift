import Logging
import ServiceLifecycle

/// The loop of the background workers: `pass` every `interval` until graceful shutdown (or
/// cancellation). A failed pass is logged at debug level and the next one tries again: the
/// workers' backing services may be down for a while.
func periodically(
    every interval: Duration, logger: Logger, failure: String, _ pass: () async throws -> Void
) async {
    while !Task.isShuttingDownGracefully && !Task.isCancelled {
        do {
            try await pass()
        } catch {
            logger.debug("\(failure)", metadata: ["error": "\(error)"])
        }
        try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
    }
}
