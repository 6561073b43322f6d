import Foundation

/// Reads a whole file only if it is no larger than a bound, without reading past the bound.
package enum BoundedFile {
    package enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        case cannotOpen
        case cannotRead
        case tooLarge(limit: Int)

        package var description: String {
            switch self {
            case .cannotOpen: return "cannot open file for reading"
            case .cannotRead: return "cannot read file"
            case let .tooLarge(limit): return "file is larger than the limit of \(limit) bytes"
            }
        }
    }

    package static func read(_ path: String, maxBytes: Int) throws(Failure) -> Data {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw .cannotOpen }
        defer { try? handle.close() }
        let data: Data
        do {
            data = try handle.read(upToCount: maxBytes + 1) ?? Data()
        } catch {
            throw .cannotRead
        }
        guard data.count <= maxBytes else { throw .tooLarge(limit: maxBytes) }
        return data
    }
}
