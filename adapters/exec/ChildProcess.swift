import Dispatch
import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// How a program ended.
public enum ExitStatus: Sendable, Equatable, CustomStringConvertible {
    case exited(Int32)
    case signalled(Int32)

    init(waitStatus status: Int32) {
        let signal = status & 0x7F
        self = signal == 0 ? .exited((status >> 8) & 0xFF) : .signalled(signal)
    }

    public var description: String {
        switch self {
        case .exited(let code): return "exit status \(code)"
        case .signalled(let signal):
            return "killed by signal \(signal)"
                + (signal == SIGKILL ? " (SIGKILL)" : signal == SIGTERM ? " (SIGTERM)" : "")
        }
    }
}

/// One running program, started with `posix_spawn` and connected through three pipes.
///
/// A reader thread decodes stdout into frames, a second one forwards stderr lines, and a
/// waiter thread reaps the child (so it never stays a zombie) and reports how it ended. The
/// parent's pipe ends are close-on-exec, so other programs never inherit them. Writes go
/// through a serial queue; a program that stopped reading blocks only that queue.
///
/// SIGPIPE is ignored process-wide (``ignoreSIGPIPE()``) so that writing to a program that
/// has exited fails with EPIPE instead of killing Stadtbus; the child gets default signal
/// dispositions back.
final class ChildProcess: Sendable {
    /// What the process reports; called on its own threads.
    struct Handlers: Sendable {
        var frame: @Sendable (Frame) -> Void
        var protocolError: @Sendable (FrameProtocolError) -> Void
        var stderrLine: @Sendable (String) -> Void
        var exit: @Sendable (ExitStatus) -> Void
    }

    let pid: pid_t
    /// Our end of the program's stdin (-1 once closed), whether the program has exited, and
    /// whether it has been reaped (its pid may be reused from then on).
    private let state: Mutex<(stdinFD: Int32, exited: Bool, reaped: Bool)>
    private let exitSignal = DispatchSemaphore(value: 0)
    private let writer: DispatchQueue

    private init(pid: pid_t, stdinFD: Int32) {
        self.pid = pid
        state = Mutex((stdinFD, false, false))
        writer = DispatchQueue(label: "stadtbus.exec.writer.\(pid)")
    }

    /// Ignores SIGPIPE for the whole process (idempotent). Stadtbus's own sockets are not
    /// affected: rabbitmq-c and libcurl already suppress it per call.
    static func ignoreSIGPIPE() {
        _ = sigpipeIgnored
    }

    private static let sigpipeIgnored: Bool = {
        signal(SIGPIPE, SIG_IGN)
        return true
    }()

    /// Starts `command` with `arguments`, exactly `environment`, in `directory`.
    static func spawn(
        command: String, arguments: [String], environment: [String: String], directory: String?, endpoint: String,
        handlers: Handlers
    ) throws -> ChildProcess {
        ignoreSIGPIPE()
        let stdinPipe = try makePipe(endpoint: endpoint, command: command)
        let stdoutPipe: (read: Int32, write: Int32)
        let stderrPipe: (read: Int32, write: Int32)
        do {
            stdoutPipe = try makePipe(endpoint: endpoint, command: command)
        } catch {
            close(stdinPipe.read)
            close(stdinPipe.write)
            throw error
        }
        do {
            stderrPipe = try makePipe(endpoint: endpoint, command: command)
        } catch {
            [stdinPipe.read, stdinPipe.write, stdoutPipe.read, stdoutPipe.write].forEach { close($0) }
            throw error
        }
        // The child's ends are dup2'ed onto 0/1/2 (which clears close-on-exec on the copies).
        defer { [stdinPipe.read, stdoutPipe.write, stderrPipe.write].forEach { close($0) } }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdinPipe.read, 0)
        posix_spawn_file_actions_adddup2(&actions, stdoutPipe.write, 1)
        posix_spawn_file_actions_adddup2(&actions, stderrPipe.write, 2)
        // Descriptors Stadtbus opened without close-on-exec (a library's socket) stay with Stadtbus.
        if let closeFrom = GNUSpawnActions.addCloseFrom { _ = closeFrom(&actions, 3) }
        if let directory {
            guard let changeDirectory = GNUSpawnActions.addChangeDirectory else {
                [stdinPipe.write, stdoutPipe.read, stderrPipe.read].forEach { close($0) }
                throw ExecError.spawnFailed(endpoint: endpoint, command: command, errno: ENOSYS)
            }
            _ = directory.withCString { changeDirectory(&actions, $0) }
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigfillset(&defaults)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        // Its own process group: a Ctrl-C at Stadtbus's terminal does not reach the program
        // directly; Stadtbus shuts it down in order (stdin closed, SIGTERM, SIGKILL).
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP))

        let argv = ([command] + arguments).map { strdup($0) } + [nil]
        let envp = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, command, &actions, &attributes, argv, envp)
        guard result == 0 else {
            [stdinPipe.write, stdoutPipe.read, stderrPipe.read].forEach { close($0) }
            throw ExecError.spawnFailed(endpoint: endpoint, command: command, errno: result)
        }
        let process = ChildProcess(pid: pid, stdinFD: stdinPipe.write)
        process.startThreads(stdout: stdoutPipe.read, stderr: stderrPipe.read, handlers: handlers)
        return process
    }

    /// A pipe whose both ends are close-on-exec (the child's end is dup2'ed onto 0/1/2,
    /// which clears the flag on the copy only).
    private static func makePipe(endpoint: String, command: String) throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else {
            throw ExecError.spawnFailed(endpoint: endpoint, command: command, errno: errno)
        }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return (fds[0], fds[1])
    }

    private func startThreads(stdout: Int32, stderr: Int32, handlers: Handlers) {
        let stdoutClosed = DispatchSemaphore(value: 0)
        let pid = self.pid
        let reader = Thread {
            var decoder = FrameDecoder()
            var failed = false
            Self.readAll(stdout) { chunk in
                guard !failed else { return }
                do {
                    for frame in try decoder.feed(chunk) { handlers.frame(frame) }
                } catch let error as FrameProtocolError {
                    failed = true
                    handlers.protocolError(error)
                } catch {
                    failed = true
                    handlers.protocolError(FrameProtocolError("\(error)"))
                }
            }
            close(stdout)
            stdoutClosed.signal()
        }
        reader.name = "exec-stdout-\(pid)"
        reader.start()

        let errors = Thread {
            var line: [UInt8] = []
            Self.readAll(stderr) { chunk in
                for byte in chunk {
                    if byte == 0x0A {
                        handlers.stderrLine(String(decoding: line, as: UTF8.self))
                        line.removeAll(keepingCapacity: true)
                    } else if line.count < 4096 {
                        line.append(byte)
                    }
                }
            }
            if !line.isEmpty { handlers.stderrLine(String(decoding: line, as: UTF8.self)) }
            close(stderr)
        }
        errors.name = "exec-stderr-\(pid)"
        errors.start()

        let waiter = Thread { [self] in
            // Wait without reaping first, so that a signal sent meanwhile cannot reach a
            // recycled process id; then mark the process as gone and reap it.
            var info = siginfo_t()
            while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) != 0 && errno == EINTR {}
            state.withLock { $0.exited = true }
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            state.withLock { $0.reaped = true }
            closeStdin()  // our end of the pipe is not needed any more
            exitSignal.signal()
            // Answers written just before the exit are still in the pipe: let the reader finish
            // (a grandchild holding stdout open must not delay the report for long).
            _ = stdoutClosed.wait(timeout: .now() + 1)
            handlers.exit(ExitStatus(waitStatus: status))
        }
        waiter.name = "exec-wait-\(pid)"
        waiter.start()
    }

    private static func readAll(_ fd: Int32, _ consume: ([UInt8]) -> Void) {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count > 0 {
                consume(Array(buffer[0..<count]))
            } else if count < 0 && errno == EINTR {
                continue
            } else {
                return
            }
        }
    }

    /// Writes `bytes` to the program's stdin; `completion` gets `nil` or why it failed.
    func write(_ bytes: [UInt8], completion: @escaping @Sendable ((any Error)?) -> Void) {
        writer.async { [self] in
            let fd = state.withLock { $0.stdinFD }
            guard fd >= 0 else { return completion(FrameProtocolError("the program's stdin is closed")) }
            var written = 0
            while written < bytes.count {
                let result = bytes[written...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
                if result > 0 {
                    written += result
                } else if result < 0 && errno == EINTR {
                    continue
                } else {
                    let code = errno
                    return completion(
                        FrameProtocolError(
                            code == EPIPE
                                ? "the program closed its stdin" : "write failed: \(String(cString: strerror(code)))"))
                }
            }
            completion(nil)
        }
    }

    /// Closes the program's stdin after pending writes (it sees end of input).
    func closeStdin() {
        writer.async { [self] in
            let fd = state.withLock { state in
                defer { state.stdinFD = -1 }
                return state.stdinFD
            }
            if fd >= 0 { close(fd) }
        }
    }

    /// Sends `signal` unless the process has already exited (never to a recycled id).
    func send(_ signal: Int32) {
        state.withLock { state in
            if !state.exited { kill(pid, signal) }
        }
    }

    /// Whether the process has exited and been reaped.
    var hasExited: Bool { state.withLock { $0.reaped } }

    /// Waits up to `timeout` for the process to exit and be reaped; true if it was.
    func waitForExit(timeout: Duration) -> Bool {
        if hasExited { return true }
        let nanoseconds =
            Int(timeout.components.seconds) * 1_000_000_000 + Int(timeout.components.attoseconds / 1_000_000_000)
        if exitSignal.wait(timeout: .now() + .nanoseconds(nanoseconds)) == .success {
            exitSignal.signal()  // later waiters see it too
            return true
        }
        return hasExited
    }

    /// Ends the program in order: stdin closed, `grace` to exit, SIGTERM, `grace`, SIGKILL.
    /// Blocks the calling thread; the waiter thread reaps the child.
    func terminate(grace: Duration, closeInputFirst: Bool = true) {
        if closeInputFirst {
            closeStdin()
            if waitForExit(timeout: grace) { return }
        }
        send(SIGTERM)
        if waitForExit(timeout: grace) { return }
        send(SIGKILL)
        _ = waitForExit(timeout: .seconds(5))
    }
}

/// glibc's GNU extensions to posix_spawn file actions (2.29/2.34), which Swift's Glibc module
/// does not export: looked up once at run time.
enum GNUSpawnActions {
    typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    typealias AddChangeDirectory =
        @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32

    static let addCloseFrom: AddCloseFrom? = symbol("posix_spawn_file_actions_addclosefrom_np")
    static let addChangeDirectory: AddChangeDirectory? = symbol("posix_spawn_file_actions_addchdir_np")

    private static func symbol<T>(_ name: String) -> T? {
        guard let address = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else { return nil }
        return unsafeBitCast(address, to: T.self)
    }
}
