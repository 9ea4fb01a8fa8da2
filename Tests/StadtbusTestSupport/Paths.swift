import Foundation

/// The package root, the shared XÖV material and the built `stadtbus` executable.
public enum Paths {
    /// The package root (this file is Tests/StadtbusTestSupport/Paths.swift).
    public static let root: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }()

    /// `$STADTBUS_SHARED`, else `../shared` next to the package root.
    public static let shared: URL = {
        if let path = ProcessInfo.processInfo.environment["STADTBUS_SHARED"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        return root.deletingLastPathComponent().appendingPathComponent("shared")
    }()

    /// The `stadtbus` executable built next to the test bundle (`swift build --build-tests`).
    public static var executable: URL {
        // Linux: the bundle URL is the build folder holding the .xctest executable;
        // macOS: it is the .xctest bundle inside that folder.
        let folder = Bundle.main.bundleURL
        let candidates = [
            folder.appendingPathComponent("stadtbus"),
            folder.deletingLastPathComponent().appendingPathComponent("stadtbus"),
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]
    }
}

/// A failure of an end-to-end or reliability test's machinery, with a readable description.
public struct EndToEndFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Runs a command from the package root (see ``Shell``: daemons started by it must not hang the test).
@discardableResult
public func shell(_ arguments: [String]) throws -> String {
    try Shell.run(arguments, in: Paths.root)
}
