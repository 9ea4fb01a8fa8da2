import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The permissions of a store file: the idempotency records and the audit journal name
/// authorities, routes and message identities, so only the service's own user reads them.
///
/// SQLite creates a database `0644` (less the umask) and gives its `-wal`, `-shm` and
/// `-journal` files the mode of the database. So the database file is created here first,
/// empty and `0600`, before SQLite opens it; its companions follow. The umask is not touched:
/// it is process-wide, and other threads create files at the same time.
enum StoreFilePermissions {
    /// The mode of a new store file: read and write for the owner only.
    static let newFileMode: mode_t = 0o600
    /// The files SQLite keeps next to the database, which get the database's mode.
    static let companionSuffixes = ["-wal", "-shm", "-journal"]

    /// Creates `path` empty with mode `0600` if it does not exist. An existing file (and its
    /// companions) loses the permissions for others (`o-rwx`); the owner's and the group's
    /// stay as the operator set them.
    ///
    /// A file that cannot be created is left to SQLite's open, which fails for the same cause
    /// and says which (``StoreError/cannotOpen(path:reason:)`` with the file system's reason).
    static func prepare(_ path: String) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, newFileMode)
        if descriptor >= 0 {
            // open(2) applies the umask, which can only take bits away; fchmod makes the mode
            // exact even under an unusual umask.
            _ = fchmod(descriptor, newFileMode)
            close(descriptor)
            return
        }
        guard errno == EEXIST else { return }
        for file in [path] + companionSuffixes.map({ path + $0 }) {
            withdrawOthers(file)
        }
    }

    /// Removes the permissions for others from `file` if it is a regular file and has any.
    /// Failing that (another owner) is not an error: the store still opens, as it did before.
    private static func withdrawOthers(_ file: String) {
        var status = stat()
        guard stat(file, &status) == 0, status.st_mode & S_IFMT == S_IFREG, status.st_mode & 0o007 != 0 else { return }
        _ = chmod(file, status.st_mode & 0o770)
    }
}
