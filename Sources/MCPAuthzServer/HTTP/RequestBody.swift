import HTTPTypes
import Hummingbird
import NIOCore

/// Reads a request's body for a decision, within a bound.
enum RequestBody {
    /// The body, nil when the request has none; a refusal when it is larger than `maxBytes` or
    /// cannot be read.
    static func read(_ request: Request, maxBytes: Int) async -> Result<[UInt8]?, RequestRejection> {
        let length = request.headers[.contentLength].flatMap { Int($0) }
        let chunked = request.headers[.transferEncoding] != nil
        guard (length ?? 0) > 0 || chunked else { return .success(nil) }
        if let length, length > maxBytes {
            return .failure(RequestRejection(.bodyTooLarge, "body of \(length) bytes exceeds \(maxBytes)"))
        }
        do {
            let buffer = try await request.body.collect(upTo: maxBytes)
            return .success(Array(buffer.readableBytesView))
        } catch is NIOTooManyBytesError {
            return .failure(RequestRejection(.bodyTooLarge, "body exceeds \(maxBytes) bytes"))
        } catch {
            return .failure(RequestRejection(.bodyInvalid, "body could not be read"))
        }
    }
}
