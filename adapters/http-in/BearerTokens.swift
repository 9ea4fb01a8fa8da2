import Foundation

/// The bearer tokens an endpoint accepts, each with a name for the `x-stadtbus-client` header.
///
/// A token file holds one token per line, either `TOKEN` (named after the file, e.g.
/// `portal` for `portal.token`) or `NAME: TOKEN`; empty lines and `#` comments are skipped.
/// `token-env` holds one token, named after the variable.
struct BearerTokens: Sendable {
    /// Shorter tokens are refused: they could be guessed.
    static let minimumLength = 16

    let entries: [(name: String, token: [UInt8])]

    /// Reads the tokens from `source` (called at start and on every reload).
    static func load(_ source: HTTPInSettings.TokenSource, endpoint: String, environment: [String: String]) throws
        -> BearerTokens
    {
        switch source {
        case .environment(let variable):
            let value = environment[variable]?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            guard !value.isEmpty else {
                throw HTTPInError.missingTokenEnvironment(endpoint: endpoint, variable: variable)
            }
            guard value.count >= minimumLength else {
                throw HTTPInError.weakToken(endpoint: endpoint, source: "$\(variable)", minimum: minimumLength)
            }
            return BearerTokens(entries: [(variable, Array(value.utf8))])
        case .file(let path):
            let text: String
            do {
                text = try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw HTTPInError.unreadableTokenFile(
                    endpoint: endpoint, path: path, reason: error.localizedDescription)
            }
            let fileName = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
            var entries: [(name: String, token: [UInt8])] = []
            for line in text.split(whereSeparator: \.isNewline) {
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
                let name: String
                let token: String
                if let separator = trimmed.range(of: ": ") {
                    name = String(trimmed[..<separator.lowerBound]).trimmingCharacters(in: .whitespaces)
                    token = String(trimmed[separator.upperBound...]).trimmingCharacters(in: .whitespaces)
                } else {
                    (name, token) = (fileName, trimmed)
                }
                guard token.count >= minimumLength else {
                    throw HTTPInError.weakToken(endpoint: endpoint, source: path, minimum: minimumLength)
                }
                entries.append((name, Array(token.utf8)))
            }
            guard !entries.isEmpty else {
                throw HTTPInError.unreadableTokenFile(endpoint: endpoint, path: path, reason: "the file holds no token")
            }
            return BearerTokens(entries: entries)
        }
    }

    /// The name of the token equal to `presented`, or `nil`. Every configured token is compared
    /// in full, so the time taken does not tell how much of a guess was right, nor which token.
    func match(_ presented: [UInt8]) -> String? {
        var found: String?
        for entry in entries {
            let equal = Self.constantTimeEquals(entry.token, presented)
            if equal, found == nil { found = entry.name }
        }
        return found
    }

    /// Compares in time that depends only on the lengths, not on where the bytes differ.
    static func constantTimeEquals(_ expected: [UInt8], _ presented: [UInt8]) -> Bool {
        var difference: UInt = expected.count == presented.count ? 0 : 1
        guard !expected.isEmpty else { return false }
        for index in 0..<presented.count {
            difference |= UInt(expected[index % expected.count] ^ presented[index])
        }
        return difference == 0
    }
}
