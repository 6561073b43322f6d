import MCPAuthzPolicy

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// What the policy path looks like on disk, cheaply: for each policy file, the path it
/// resolves to through symlinks, and that file's device, inode, size and modification time.
///
/// A Kubernetes ConfigMap update swaps the `..data` symlink: every file then resolves to a new
/// path, so the change is seen even when sizes and times match. Editors that replace a file
/// change its inode; in-place writes change its size or mtime.
struct PolicyFingerprint: Equatable, Sendable {
    struct Entry: Equatable, Sendable {
        var path: String
        var resolved: String
        var device: UInt64
        var inode: UInt64
        var size: Int64
        var modifiedSeconds: Int
        var modifiedNanoseconds: Int
    }

    var entries: [Entry]
    /// Set when the path or a file could not be read: a fingerprint that never equals a good one.
    var problem: String?

    static func of(path: String) -> PolicyFingerprint {
        let files: [String]
        do {
            files = try PolicyLoader.files(at: path, kind: .policy)
        } catch {
            return PolicyFingerprint(entries: [], problem: error.description)
        }
        var entries: [Entry] = []
        for file in files {
            var info = stat()
            guard stat(file, &info) == 0 else { return PolicyFingerprint(entries: entries, problem: "cannot stat \(file)") }
            var resolved = file
            if let real = realpath(file, nil) {
                resolved = String(cString: real)
                free(real)
            }
            entries.append(
                Entry(
                    path: file, resolved: resolved, device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int64(info.st_size),
                    modifiedSeconds: Int(info.st_mtim.tv_sec), modifiedNanoseconds: Int(info.st_mtim.tv_nsec)
                )
            )
        }
        return PolicyFingerprint(entries: entries, problem: nil)
    }
}
