import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Reads one file the `file` source picked from its folder, without following a link.
///
/// The folder is listed first and read later: in between, whoever may write to the folder can
/// replace a file with a symbolic link to any file Stadtbus may read (a key, a 0600 export of
/// another system), with a FIFO that blocks the reader, or with a directory. So the file is
/// opened with `O_NOFOLLOW` (a link is not followed) and `O_NONBLOCK` (a FIFO does not block),
/// the open descriptor must be a regular file (`fstat`), and the content is read through that
/// descriptor — never by name again.
enum InboxFile {
    /// What became of reading a file.
    enum Outcome: Equatable {
        /// The file's content.
        case content([UInt8])
        /// Not read, and never to be: the entry is not a regular file (the reason says what it
        /// is). The source moves it to `failed/` with the reason.
        case refused(reason: String)
        /// Not read now: the file is gone (someone else took it) or cannot be opened or read
        /// (`reason`, from the system). The source leaves it and tries on a later poll.
        case unavailable(reason: String)
    }

    /// Reads the file at `path` (see ``InboxFile``).
    static func read(_ path: String) -> Outcome {
        let descriptor = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else {
            let error = errno
            if error == ELOOP {
                return .refused(reason: "a symbolic link; links are not followed, the file was not read")
            }
            return .unavailable(reason: String(cString: strerror(error)))
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { return .unavailable(reason: String(cString: strerror(errno))) }
        guard status.st_mode & S_IFMT == S_IFREG else {
            return .refused(reason: "\(kind(of: status.st_mode)), not a regular file; it was not read")
        }
        var content: [UInt8] = []
        content.reserveCapacity(max(0, Int(status.st_size)))
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count == 0 { return .content(content) }
            if count < 0 {
                if errno == EINTR { continue }
                return .unavailable(reason: String(cString: strerror(errno)))
            }
            content.append(contentsOf: buffer[0..<count])
        }
    }

    /// What a non-regular file is, in words.
    private static func kind(of mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFDIR: return "a directory"
        case S_IFIFO: return "a FIFO"
        case S_IFSOCK: return "a socket"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFLNK: return "a symbolic link"
        default: return "a special file"
        }
    }
}
