private import CCurl
import Foundation
public import NIOPosix

/// Where e-mail goes: an SMTP relay.
public struct SMTPSettings: Sendable, Equatable {
    /// `smtp://host:port` (STARTTLS when the server offers it, required with `requireTLS`) or
    /// `smtps://host:port` (TLS from the start).
    public var url: String
    public var requireTLS: Bool
    public var username: String?
    public var password: String?
    /// The sender, e.g. `BoxOffice <tickets@example.com>`; its address is the envelope sender.
    public var from: String

    public init(url: String, requireTLS: Bool = false, username: String? = nil, password: String? = nil, from: String) {
        self.url = url
        self.requireTLS = requireTLS
        self.username = username
        self.password = password
        self.from = from
    }

    /// `Name <a@b>` → `a@b`.
    var fromAddress: String {
        guard let open = from.lastIndex(of: "<"), let close = from.lastIndex(of: ">"), open < close else { return from }
        return String(from[from.index(after: open)..<close])
    }
}

public struct SMTPError: Error, CustomStringConvertible {
    public let description: String
}

/// Sends messages over SMTP with libcurl: one connection per message, on a thread pool
/// (libcurl's easy interface blocks; NIO's shared pool has a thread per core).
public struct SMTPMailer: Sendable {
    public let settings: SMTPSettings
    let timeout: Duration

    public init(settings: SMTPSettings, timeout: Duration = .seconds(20)) {
        self.settings = settings
        self.timeout = timeout
        _ = Self.initialised
    }

    /// libcurl's global state, set up once before any handle (it is not thread-safe).
    private static let initialised: Bool = curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK

    /// Sends `message` (a whole RFC 5322 message, CRLF line ends) to `recipient`.
    public func send(_ message: String, to recipient: String, on pool: NIOThreadPool = .singleton) async throws {
        let settings = self.settings
        let seconds = Int(timeout.components.seconds)
        let failure: String? = try await pool.runIfActive {
            Self.transfer(Array(message.utf8), to: recipient, settings: settings, timeoutSeconds: seconds)
        }
        if let failure { throw SMTPError(description: failure) }
    }

    private final class Upload {
        let bytes: [UInt8]
        var offset = 0

        init(_ bytes: [UInt8]) {
            self.bytes = bytes
        }
    }

    /// One blocking transfer; the error's text, or nil when the relay took the message.
    private static func transfer(_ bytes: [UInt8], to recipient: String, settings: SMTPSettings, timeoutSeconds: Int) -> String? {
        guard let handle = curl_easy_init() else { return "curl_easy_init failed" }
        defer { curl_easy_cleanup(handle) }
        let upload = Upload(bytes)
        let recipients: UnsafeMutablePointer<curl_slist>? = curl_slist_append(nil, "<\(recipient)>")
        defer { curl_slist_free_all(recipients) }
        var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)

        let read: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int = { buffer, size, count, context in
            guard let buffer, let context else { return 0 }
            let upload = Unmanaged<Upload>.fromOpaque(context).takeUnretainedValue()
            let length = min(size * count, upload.bytes.count - upload.offset)
            guard length > 0 else { return 0 }
            upload.bytes.withUnsafeBufferPointer { source in
                UnsafeMutableRawPointer(buffer).copyMemory(from: source.baseAddress! + upload.offset, byteCount: length)
            }
            upload.offset += length
            return length
        }
        let code: CURLcode = withExtendedLifetime(upload) {
            errorBuffer.withUnsafeMutableBufferPointer { errors in
                _ = bo_curl_setopt_string(handle, CURLOPT_URL, settings.url)
                _ = bo_curl_setopt_string(handle, CURLOPT_MAIL_FROM, "<\(settings.fromAddress)>")
                _ = bo_curl_setopt_pointer(handle, CURLOPT_MAIL_RCPT, recipients.map { UnsafeMutableRawPointer($0) })
                _ = bo_curl_setopt_read_function(handle, read)
                _ = bo_curl_setopt_pointer(handle, CURLOPT_READDATA, Unmanaged.passUnretained(upload).toOpaque())
                _ = bo_curl_setopt_long(handle, CURLOPT_UPLOAD, 1)
                _ = bo_curl_setopt_long(handle, CURLOPT_INFILESIZE, bytes.count)
                _ = bo_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1)  // threads: no alarm() for timeouts
                _ = bo_curl_setopt_long(handle, CURLOPT_TIMEOUT, timeoutSeconds)
                _ = bo_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT, min(timeoutSeconds, 10))
                _ = bo_curl_setopt_long(handle, CURLOPT_USE_SSL, Int(settings.requireTLS ? CURLUSESSL_ALL.rawValue : CURLUSESSL_TRY.rawValue))
                if let username = settings.username { _ = bo_curl_setopt_string(handle, CURLOPT_USERNAME, username) }
                if let password = settings.password { _ = bo_curl_setopt_string(handle, CURLOPT_PASSWORD, password) }
                _ = bo_curl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errors.baseAddress)
                return curl_easy_perform(handle)
            }
        }
        guard code == CURLE_OK else {
            let detail = String(decoding: errorBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            return detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
        }
        return nil
    }
}
