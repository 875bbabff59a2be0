import NIOCore

/// A command on its way to the server, already encoded, with the promise its reply completes.
struct RedisRequest: Sendable {
    var encoded: ByteBuffer
    var promise: EventLoopPromise<RedisReply>
    var deadline: NIODeadline
}

/// Pipelines requests on one connection: replies arrive in the order commands were written,
/// so a FIFO of promises matches them. When the oldest command outlives its deadline the
/// connection is presumed stuck: everything in flight fails and the channel closes.
final class RedisChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = RedisRequest
    typealias OutboundOut = ByteBuffer

    private let decoder = RESPDecoder()
    private var pending = CircularBuffer<RedisRequest>(initialCapacity: 64)
    private var timeoutCheck: Scheduled<Void>?

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        pending.append(request)
        if timeoutCheck == nil { scheduleTimeoutCheck(context: context, at: request.deadline) }
        context.write(wrapOutboundOut(request.encoded), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        decoder.feed(unwrapInboundIn(data))
        do {
            while let reply = try decoder.next() {
                guard let request = pending.popFirst() else {
                    throw RedisError(.protocolError, "a reply arrived with no command waiting for it")
                }
                request.promise.succeed(reply)
            }
        } catch {
            closeAndFailAll(RedisError(.protocolError, "\(error)"), context: context)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(RedisError(.connectionClosed, "the connection to Redis closed with the command in flight"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        closeAndFailAll(RedisError(.connectionClosed, "the connection to Redis failed: \(error)"), context: context)
    }

    private func scheduleTimeoutCheck(context: ChannelHandlerContext, at deadline: NIODeadline) {
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timeoutCheck = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
            let (handler, context) = loopBound.value
            handler.checkTimeout(context: context)
        }
    }

    private func checkTimeout(context: ChannelHandlerContext) {
        timeoutCheck = nil
        guard let oldest = pending.first else { return }
        if oldest.deadline <= .now() {
            closeAndFailAll(RedisError(.timeout, "Redis did not answer in time"), context: context)
        } else {
            scheduleTimeoutCheck(context: context, at: oldest.deadline)
        }
    }

    /// Closes first, so that a caller woken by the failure already finds the connection inactive.
    private func closeAndFailAll(_ error: RedisError, context: ChannelHandlerContext) {
        let failed = pending
        pending.removeAll()
        context.close(promise: nil)
        for request in failed { request.promise.fail(error) }
        failAll(error)
    }

    private func failAll(_ error: RedisError) {
        timeoutCheck?.cancel()
        timeoutCheck = nil
        while let request = pending.popFirst() {
            request.promise.fail(error)
        }
    }
}
