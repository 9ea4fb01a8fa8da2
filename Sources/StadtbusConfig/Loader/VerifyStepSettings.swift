import StadtbusCore

extension LoadSession {
    static let verifySettings = ["allow-own-author", "max-age", "max-future"]

    /// `verify` or `verify: { allow-own-author: BOOL, max-age: DURATION | off, max-future: DURATION }`.
    func verifyStep(_ node: YNode?, at nameNode: YNode) -> (any RouteStep)? {
        guard let options = verifyOptions(node) else { return nil }
        if let verifier = loader.verifier { return VerifyStep(verifier: verifier) }
        guard let factory = loader.verifierFactory else { return VerifyStep(verifier: UnavailableVerifier()) }
        do {
            return VerifyStep(verifier: try factory(settings.trustStore, settings.signerIdentities, options))
        } catch {
            diagnostics.error(nameNode.position, "'verify' cannot be set up: \(error)")
            return nil
        }
    }

    private func verifyOptions(_ node: YNode?) -> VerifyOptions? {
        var options = VerifyOptions(ownKennung: settings.identity?.kennung)
        guard let node else { return options }
        guard let fields = reader.fields(node, "'verify'", allowed: Self.verifySettings) else { return nil }
        var valid = true
        if let value = fields["allow-own-author"] {
            if let allow = reader.bool(value, "verify.allow-own-author") {
                options.allowOwnAuthor = allow
            } else {
                valid = false
            }
        }
        if let value = fields["max-age"] {
            if ["off", "false", "no"].contains(value.scalar ?? "") {
                options.maxAge = nil
            } else if let age = reader.duration(value, "verify.max-age (or 'off')") {
                guard age > .zero else {
                    diagnostics.error(value.position, "verify.max-age must be longer than 0s (or 'off')")
                    return nil
                }
                options.maxAge = age
            } else {
                valid = false
            }
        }
        if let value = fields["max-future"] {
            if let skew = reader.duration(value, "verify.max-future") {
                options.maxFuture = skew
            } else {
                valid = false
            }
        }
        return valid ? options : nil
    }
}
