import Crypto
public import Foundation
import NIOPosix
public import PostgresClient
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Poster images: the bytes in a directory, their name, type and ETag on the movie's row.
/// Files are named `<movieId>-<sha256>.<ext>`, so a URL carrying the hash never goes stale.
public struct PosterStore: Sendable {
    /// A movie's poster as recorded.
    public struct Poster: Sendable, Equatable {
        public var fileName: String
        public var contentType: String
        /// The SHA-256 of the bytes, hex.
        public var etag: String
    }

    public static let maximumBytes = 5 * 1024 * 1024

    let postgres: PostgresPool
    let directory: String

    public init(postgres: PostgresPool, directory: String) {
        self.postgres = postgres
        self.directory = directory
    }

    /// Stores `bytes` as the movie's poster, replacing (and removing) the previous one.
    /// Throws `PosterImageError` when the bytes are no PNG, JPEG or WebP, or not what
    /// `declaredContentType` claims; 404 for an unknown or archived movie.
    public func save(movieID: Int, bytes: [UInt8], declaredContentType: String?) async throws -> Poster {
        let format = try PosterImageFormat.check(bytes, declaredContentType: declaredContentType)
        let exists = try await postgres.query("SELECT 1 FROM movies WHERE id = \(movieID) AND archived_at IS NULL")
        guard !exists.isEmpty else { throw BoxOfficeError.notFound("Movie \(movieID)") }

        let etag = SHA256.hash(data: bytes).map { String($0, radix: 16).leftPadded(to: 2) }.joined()
        let poster = Poster(fileName: "\(movieID)-\(etag).\(format.fileExtension)", contentType: format.contentType, etag: etag)
        try await write(bytes, as: poster.fileName)

        let previous = try await postgres.query("""
            UPDATE movies m SET poster_file = \(poster.fileName), poster_content_type = \(poster.contentType),
                poster_etag = \(poster.etag), updated_at = now()
            FROM (SELECT id, poster_file FROM movies WHERE id = \(movieID) AND archived_at IS NULL FOR UPDATE) old
            WHERE m.id = old.id
            RETURNING old.poster_file
            """)
        guard let row = previous.first else {
            // Deleted meanwhile: the new file belongs to nobody.
            await removeFile(named: poster.fileName)
            throw BoxOfficeError.notFound("Movie \(movieID)")
        }
        // The same image again has the same name: then the "previous" file is the new one.
        if let old = try row.decode(String?.self, column: "poster_file"), old != poster.fileName {
            await removeFile(named: old)
        }
        return poster
    }

    /// The movie's poster, or 404 when the movie is unknown or archived or has none.
    public func poster(movieID: Int) async throws -> Poster {
        let rows = try await postgres.query("""
            SELECT poster_file, poster_content_type, poster_etag FROM movies
            WHERE id = \(movieID) AND archived_at IS NULL AND poster_file IS NOT NULL
            """)
        guard let row = rows.first else { throw BoxOfficeError.notFound("A poster of movie \(movieID)") }
        return Poster(
            fileName: try row.decode(String.self, column: "poster_file"),
            contentType: try row.decode(String.self, column: "poster_content_type"),
            etag: try row.decode(String.self, column: "poster_etag")
        )
    }

    /// The poster's bytes, read off the cooperative pool; 404 if the file has gone.
    public func bytes(of poster: Poster) async throws -> Data {
        let path = directory + "/" + poster.fileName
        let data = try await NIOThreadPool.singleton.runIfActive { FileManager.default.contents(atPath: path) }
        guard let data else { throw BoxOfficeError.notFound("The poster file") }
        return data
    }

    /// Removes a poster file no movie uses any more; a file that is already gone is fine.
    public func removeFile(named fileName: String) async {
        let path = directory + "/" + fileName
        _ = try? await NIOThreadPool.singleton.runIfActive { try FileManager.default.removeItem(atPath: path) }
    }

    /// Writes to a temporary file in the same directory, then renames it into place: readers
    /// see the whole old file or the whole new one, never half of one.
    private func write(_ bytes: [UInt8], as fileName: String) async throws {
        let directory = self.directory
        try await NIOThreadPool.singleton.runIfActive {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let temporary = directory + "/.\(fileName).\(UUID().uuidString).tmp"
            try Data(bytes).write(to: URL(fileURLWithPath: temporary))
            guard rename(temporary, directory + "/" + fileName) == 0 else {
                let code = errno
                try? FileManager.default.removeItem(atPath: temporary)
                throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "rename failed: errno \(code)"])
            }
        }
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        String(repeating: "0", count: max(0, width - count)) + self
    }
}
