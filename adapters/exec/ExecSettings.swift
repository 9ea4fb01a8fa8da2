import Foundation
import StadtbusConfig
import StadtbusCore

/// The settings of one `exec` endpoint, read from its validated configuration values.
public struct ExecSettings: Sendable, Equatable {
    /// Absolute path of the program.
    public var command: String
    public var arguments: [String]
    /// Added to the child's minimal environment (see ``childEnvironment``).
    public var environment: [String: String]
    public var workingDirectory: String?
    /// How long a program may take to answer one frame.
    public var timeout: Duration
    /// At most this many frames await an answer at the same time.
    public var maxInFlight: Int
    /// Delay before the first restart after a crash; doubled per consecutive failure.
    public var restartMinimum: Duration
    /// The longest restart delay.
    public var restartMaximum: Duration
    /// How long a program gets to exit after its stdin is closed (and again after SIGTERM).
    public var shutdownGrace: Duration = .seconds(2)

    public static let defaultTimeout: Duration = .seconds(30)
    public static let defaultMaxInFlight = 8
    public static let defaultRestartBackoff = "1s..60s"

    /// Reads the settings of `endpoint`.
    /// - Throws: ``ExecError/invalidSetting(endpoint:setting:problem:)`` naming the setting.
    public init(endpoint: Endpoint) throws {
        let settings = endpoint.settings
        guard let command = settings["command"]?.string, !command.isEmpty else {
            throw ExecError.invalidSetting(endpoint: endpoint.name, setting: "command", problem: "is missing")
        }
        self.command = command
        if case .list(let values)? = settings["arguments"] {
            arguments = values.map(\.description)
        } else {
            arguments = []
        }
        if case .map(let values)? = settings["environment"] {
            environment = values.mapValues(\.description)
        } else {
            environment = [:]
        }
        workingDirectory = settings["working-directory"]?.string
        timeout = settings["timeout"]?.duration ?? Self.defaultTimeout
        maxInFlight = max(1, settings["max-in-flight"]?.int ?? Self.defaultMaxInFlight)
        let backoff = settings["restart-backoff"]?.string ?? Self.defaultRestartBackoff
        guard let range = DurationSyntax.parseRange(backoff), range.0 > .zero, range.0 <= range.1 else {
            throw ExecError.invalidSetting(
                endpoint: endpoint.name, setting: "restart-backoff",
                problem: "must be a range MIN..MAX like 1s..60s with 0 < MIN <= MAX, found '\(backoff)'")
        }
        restartMinimum = range.0
        restartMaximum = range.1
    }

    /// The restart delay after `failures` consecutive failures (1 = the first): MIN·2^(n-1), at most MAX.
    public func restartDelay(afterFailures failures: Int) -> Duration {
        RetryPolicy(maxAttempts: 2, minDelay: restartMinimum, maxDelay: restartMaximum).delay(afterAttempt: failures)
    }

    /// The variables passed to the program: a minimal base (`PATH`, `LANG`, `HOME`,
    /// `STADTBUS_ENDPOINT`, `STADTBUS_EXEC_FRAMING`) plus ``environment``. Nothing else of
    /// Stadtbus's own environment (broker passwords, keys) is passed on.
    public func childEnvironment(endpoint: String) -> [String: String] {
        var variables = [
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "HOME": workingDirectory ?? "/",
            "STADTBUS_ENDPOINT": endpoint,
            "STADTBUS_EXEC_FRAMING": String(Frame.version),
        ]
        variables.merge(environment) { _, configured in configured }
        return variables
    }
}

/// Why an exec endpoint cannot work.
public enum ExecError: Error, CustomStringConvertible, Equatable {
    case invalidSetting(endpoint: String, setting: String, problem: String)
    case notExecutable(endpoint: String, command: String, problem: String)
    case spawnFailed(endpoint: String, command: String, errno: Int32)

    public var description: String {
        switch self {
        case .invalidSetting(let endpoint, let setting, let problem):
            return "exec endpoint '\(endpoint)': '\(setting)' \(problem)"
        case .notExecutable(let endpoint, let command, let problem):
            return "exec endpoint '\(endpoint)': command '\(command)' \(problem)"
        case .spawnFailed(let endpoint, let command, let code):
            return "exec endpoint '\(endpoint)': cannot start '\(command)': \(String(cString: strerror(code)))"
        }
    }

    /// Checks that `command` is an executable regular file (the `prepare` check).
    public static func checkExecutable(_ command: String, endpoint: String) throws {
        var info = stat()
        guard stat(command, &info) == 0 else {
            throw ExecError.notExecutable(
                endpoint: endpoint, command: command, problem: "cannot be found: \(String(cString: strerror(errno)))")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw ExecError.notExecutable(endpoint: endpoint, command: command, problem: "is not a regular file")
        }
        guard access(command, X_OK) == 0 else {
            throw ExecError.notExecutable(
                endpoint: endpoint, command: command,
                problem: "is not executable by this user (chmod +x, or check the mount's noexec flag)")
        }
    }
}
