/// The image formats a poster may have, recognised by their first bytes: a Content-Type
/// header is only the client's claim.
public enum PosterImageFormat: String, Sendable, CaseIterable {
    case png
    case jpeg
    case webp

    /// The format whose signature `bytes` start with, or nil.
    public init?(sniffing bytes: some Collection<UInt8>) {
        let head = Array(bytes.prefix(12))
        if head.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) {
            self = .png
        } else if head.starts(with: [0xFF, 0xD8, 0xFF]) {
            self = .jpeg
        } else if head.count == 12, head[0..<4].elementsEqual("RIFF".utf8), head[8..<12].elementsEqual("WEBP".utf8) {
            self = .webp
        } else {
            return nil
        }
    }

    /// The format a Content-Type names (parameters and case ignored), or nil.
    public init?(contentType: String) {
        let mediaType = contentType.split(separator: ";", maxSplits: 1).first.map { $0.trimmingWhitespace().lowercased() } ?? ""
        switch mediaType {
        case "image/png": self = .png
        case "image/jpeg", "image/jpg", "image/pjpeg": self = .jpeg
        case "image/webp": self = .webp
        default: return nil
        }
    }

    public var contentType: String {
        switch self {
        case .png: "image/png"
        case .jpeg: "image/jpeg"
        case .webp: "image/webp"
        }
    }

    public var fileExtension: String {
        switch self {
        case .png: "png"
        case .jpeg: "jpg"
        case .webp: "webp"
        }
    }

    /// The format of an upload: by its bytes, and only if the declared Content-Type (when
    /// there is a meaningful one) says the same.
    public static func check(_ bytes: some Collection<UInt8>, declaredContentType: String?) throws(PosterImageError) -> PosterImageFormat {
        guard let format = PosterImageFormat(sniffing: bytes) else { throw .unsupportedImage }
        // No header, or a generic one, claims nothing; the bytes decide.
        let declared = declaredContentType?.split(separator: ";", maxSplits: 1).first.map { $0.trimmingWhitespace().lowercased() } ?? ""
        if declared.isEmpty || declared == "application/octet-stream" { return format }
        guard PosterImageFormat(contentType: declared) == format else {
            throw .typeMismatch(actual: format, declared: declared)
        }
        return format
    }
}

/// Why an upload is not a poster. Both are 415 to HTTP; `BoxOfficeError.Kind` has no such
/// kind yet, so the controller maps these.
public enum PosterImageError: Error, Sendable, Equatable {
    case unsupportedImage
    case typeMismatch(actual: PosterImageFormat, declared: String)

    public var code: String {
        switch self {
        case .unsupportedImage: "unsupported_image"
        case .typeMismatch: "image_type_mismatch"
        }
    }

    public var message: String {
        switch self {
        case .unsupportedImage:
            "The body is not a PNG, JPEG or WebP image."
        case .typeMismatch(let actual, let declared):
            "The body is a \(actual.contentType) image but its Content-Type says \(declared)."
        }
    }
}

extension Substring {
    fileprivate func trimmingWhitespace() -> String {
        String(self.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
