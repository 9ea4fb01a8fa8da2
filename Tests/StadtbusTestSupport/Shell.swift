import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Runs commands for tests that start brokers and other daemons.
///
/// posix_spawn and waitpid instead of Foundation's `Process`: `rabbitmq-server -detached`
/// leaves a daemon that inherits Foundation's process-tracking descriptor, and
/// `Process.waitUntilExit()` then never returns (the shell stays a zombie). Output goes to a
/// file, not a pipe, for the same reason.
public enum Shell {
    /// A command that exited with a non-zero status.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Runs `arguments` in `directory` with standard input from /dev/null; returns standard
    /// output and error together.
    @discardableResult
    public static func run(_ arguments: [String], in directory: URL) throws -> String {
        let outPath = FileManager.default.temporaryDirectory.appendingPathComponent(
            "stadtbus-shell-\(UUID().uuidString).out"
        ).path
        defer { try? FileManager.default.removeItem(atPath: outPath) }
        func quote(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        let command =
            "cd \(quote(directory.path)) && " + arguments.map(quote).joined(separator: " ")
            + " </dev/null >\(quote(outPath)) 2>&1"
        var pid: pid_t = 0
        let parts: [String] = ["/bin/sh", "-c", command]
        var argv: [UnsafeMutablePointer<CChar>?] = parts.map { strdup($0) }
        argv.append(nil)
        defer { for argument in argv { free(argument) } }
        let spawned = posix_spawn(&pid, "/bin/sh", nil, nil, argv, environ)
        guard spawned == 0 else { throw Failure(description: "cannot spawn \(arguments): error \(spawned)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let output = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        let exited = (status & 0x7f) == 0
        let code = (status >> 8) & 0xff
        guard exited && code == 0 else {
            throw Failure(description: "\(arguments.joined(separator: " ")) failed (status \(status)): \(output)")
        }
        return output
    }
}
