import Foundation
import MCPAuthzPolicy

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
        var device: Int?
        var inode: Int?
        var size: Int?
        var modified: Date?
    }

    var entries: [Entry]
    /// Set when the path or a file could not be read.
    var problem: String?

    /// - Parameters:
    ///   - also: further files the policy reads (servers' catalogs).
    static func of(path: String, also: [String] = []) -> PolicyFingerprint {
        let files: [String]
        do {
            files = try PolicyLoader.files(at: path, kind: .policy) + also
        } catch {
            return PolicyFingerprint(entries: [], problem: error.description)
        }
        var entries: [Entry] = []
        for file in files {
            let resolved = URL(fileURLWithPath: file).resolvingSymlinksInPath().path
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: resolved) else {
                return PolicyFingerprint(entries: entries, problem: "cannot read \(file)")
            }
            entries.append(
                Entry(
                    path: file, resolved: resolved, device: (attributes[.deviceIdentifier] as? NSNumber)?.intValue,
                    inode: (attributes[.systemFileNumber] as? NSNumber)?.intValue, size: (attributes[.size] as? NSNumber)?.intValue,
                    modified: attributes[.modificationDate] as? Date
                )
            )
        }
        return PolicyFingerprint(entries: entries, problem: nil)
    }
}
