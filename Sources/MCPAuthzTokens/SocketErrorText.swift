import Foundation
import NIOCore

/// What went wrong with a socket, in words and without Swift type names: the system's reason
/// for an `IOError` (`address already in use`, `connection refused`), or what was wrong with an
/// address. Shared by the key fetcher's errors and the sidecar's failure to listen.
package enum SocketErrorText {
    /// nil when `error` is none of these.
    package static func reason(_ error: any Error) -> String? {
        if let io = error as? IOError { return String(cString: strerror(io.errnoCode)).lowercased() }
        if let unknown = error as? SocketAddressError.UnknownHost { return "\(unknown.host) is not a known host name or address" }
        if let address = error as? SocketAddressError {
            switch address {
            case let .unknown(host, _): return "\(host) is not a known host name or address"
            case .unixDomainSocketPathTooLong: return "the socket path is too long"
            default: return "not a usable address"
            }
        }
        return nil
    }
}
