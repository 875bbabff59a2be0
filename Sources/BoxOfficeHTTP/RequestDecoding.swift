import Foundation
public import Hummingbird
public import NIOCore

extension Request {
    /// The JSON body as `type`. Unlike `decode(as:context:)`, which turns decoding errors into
    /// an `HTTPError` carrying Swift's type names, this lets them reach `ProblemMiddleware`
    /// as they are: a 400 `invalid_body` naming the missing or mistyped field. A body over the
    /// context's limit is a 413 there too.
    public func decodeJSON<Value: Decodable>(as type: Value.Type, context: some RequestContext) async throws -> Value {
        try JSONBody.decode(type, from: try await collectBody(context: context))
    }

    /// The whole body, up to the context's limit (over it: 413, as for `decodeJSON`).
    public func collectBody(context: some RequestContext) async throws -> ByteBuffer {
        try await body.collect(upTo: context.maxUploadSize)
    }
}

/// Decoding of request bodies, with errors that name the field at fault.
public enum JSONBody {
    public static func decode<Value: Decodable>(_ type: Value.Type, from body: ByteBuffer) throws -> Value {
        let data = Data(body.readableBytesView)
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch DecodingError.dataCorrupted(let context) where context.codingPath.isEmpty {
            // Foundation's decoder reports a number that does not fit the field's type (2.5 or
            // 2^64 for an Int) as "not valid JSON" without a path; find the field it meant.
            throw misfitNumber(in: data, decoding: type) ?? DecodingError.dataCorrupted(context)
        }
    }

    /// The first number whose replacement by 0 makes that error go away, as a type mismatch at
    /// its path; nil when the body really is not JSON. Runs on the error path only.
    static func misfitNumber<Value: Decodable>(in data: Data, decoding type: Value.Type) -> DecodingError? {
        guard let tree = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else { return nil }
        var candidates: [[JSONPathKey]] = []
        collectNonIntegers(tree, path: [], into: &candidates)
        for path in candidates.prefix(64) {
            guard let patched = try? JSONSerialization.data(withJSONObject: replacing(path, in: tree), options: [.fragmentsAllowed])
            else { continue }
            do {
                _ = try JSONDecoder().decode(type, from: patched)
            } catch DecodingError.dataCorrupted(let context) where context.codingPath.isEmpty {
                continue
            } catch {}
            return .typeMismatch(Int.self, .init(codingPath: path, debugDescription: "a number that is not an integer in range"))
        }
        return nil
    }

    private static func collectNonIntegers(_ node: Any, path: [JSONPathKey], into paths: inout [[JSONPathKey]]) {
        switch node {
        case let object as [String: Any]:
            for key in object.keys.sorted() { collectNonIntegers(object[key]!, path: path + [JSONPathKey(key)], into: &paths) }
        case let array as [Any]:
            for (index, element) in array.enumerated() { collectNonIntegers(element, path: path + [JSONPathKey(index)], into: &paths) }
        case let number as NSNumber where !(node is Bool):
            if Int64(exactly: number.doubleValue) == nil || (number.doubleValue.magnitude >= 0x1p63) { paths.append(path) }
        default:
            break
        }
    }

    private static func replacing(_ path: [JSONPathKey], in node: Any) -> Any {
        guard let key = path.first else { return 0 }
        let rest = Array(path.dropFirst())
        if var object = node as? [String: Any], let child = object[key.stringValue] {
            object[key.stringValue] = replacing(rest, in: child)
            return object
        }
        if var array = node as? [Any], let index = key.intValue, array.indices.contains(index) {
            array[index] = replacing(rest, in: array[index])
            return array
        }
        return node
    }
}

struct JSONPathKey: CodingKey {
    var stringValue: String
    var intValue: Int?

    init(_ string: String) { (stringValue, intValue) = (string, nil) }
    init(_ index: Int) { (stringValue, intValue) = (String(index), index) }
    init?(stringValue: String) { self.init(stringValue) }
    init?(intValue: Int) { self.init(intValue) }
}
