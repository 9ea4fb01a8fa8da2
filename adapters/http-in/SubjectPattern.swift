#if canImport(Glibc)
    import Glibc
#endif

/// One `allowed-subjects` pattern, matched against a subject DN one RDN at a time.
///
/// Pattern and subject are split at unescaped commas (RFC 4514: `\,` is part of a value), and
/// each pattern RDN is matched against one subject RDN with `*`, `?` and `[…]` (fnmatch, no
/// escapes), so a wildcard never spans two components: `CN=*.breitenburg.de,O=Gemeinde
/// Breitenburg,*` does not match `CN=evil.example,OU=x.breitenburg.de,O=Gemeinde Breitenburg,C=DE`.
/// A pattern RDN that is exactly `*` stands for one or more whole RDNs (`CN=eakte.itzehoe.de,*`
/// matches the CN followed by any `O=…,C=…`).
struct SubjectPattern: Sendable, Equatable {
    let text: String
    private let components: [String]

    init(_ text: String) {
        self.text = text
        components = Self.rdns(text)
    }

    /// Whether `subject` (a DN such as nginx's `$ssl_client_s_dn`, `CN=…,O=…,C=DE`) matches.
    func matches(_ subject: String) -> Bool {
        let rdns = Self.rdns(subject)
        // reachable[j]: the pattern components seen so far can cover exactly the first j RDNs.
        var reachable = [Bool](repeating: false, count: rdns.count + 1)
        reachable[0] = true
        for component in components {
            var next = [Bool](repeating: false, count: rdns.count + 1)
            var anyEarlier = reachable[0]
            for end in 1...rdns.count {  // `rdns` is never empty
                if component == "*" {
                    next[end] = anyEarlier  // one or more whole RDNs, from any earlier boundary
                } else {
                    next[end] = reachable[end - 1] && fnmatch(component, rdns[end - 1], FNM_NOESCAPE) == 0
                }
                anyEarlier = anyEarlier || reachable[end]
            }
            reachable = next
        }
        return reachable[rdns.count]
    }

    /// The RDNs of `dn`, split at commas that are not escaped with a backslash.
    static func rdns(_ dn: String) -> [String] {
        var parts: [String] = []
        var current = ""
        var escaped = false
        for character in dn {
            if escaped {
                current.append(character)
                escaped = false
            } else if character == "\\" {
                current.append(character)
                escaped = true
            } else if character == "," {
                parts.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        parts.append(current)
        return parts
    }
}
