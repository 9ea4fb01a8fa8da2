import Foundation
import StadtbusCore
import Yams

extension LoadSession {
    /// `address-directory:` — inline `{KENNUNG: {endpoint, name}}` or `{file: PATH}` naming a YAML
    /// file of such entries. Every endpoint must exist and be able to send.
    func readAddressDirectory(_ node: YNode) {
        var entriesNode = node
        if case .mapping(let mapping) = node.node, mapping.count == 1, let only = mapping.first,
            only.key.scalar?.string == "file"
        {
            let fileNode = YNode(node: only.value, file: node.file)
            guard let raw = reader.string(fileNode, "address-directory file"),
                let path = reader.path(fileNode, "address-directory file")
            else {
                return
            }
            let display = raw.hasPrefix("/") ? raw : NodeReader.display(raw, relativeTo: node.file)
            dependencies.append(path)
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8)
            else {
                diagnostics.error(fileNode.position, "address-directory file '\(raw)' cannot be read or is not UTF-8")
                return
            }
            do {
                guard let root = try Yams.compose(yaml: text) else {
                    diagnostics.error(fileNode.position, "address-directory file '\(raw)' is empty")
                    return
                }
                entriesNode = YNode(node: root, file: display)
            } catch let error as YamlError {
                diagnostics.error(
                    Self.position(of: error, file: display), "YAML syntax error: \(Self.problem(of: error))")
                return
            } catch {
                diagnostics.error(fileNode.position, "address-directory file '\(raw)': \(error)")
                return
            }
        }
        guard case .mapping(let mapping) = entriesNode.node else {
            diagnostics.error(
                entriesNode.position,
                "'address-directory' must be a mapping of kennung to {endpoint, name} (or 'file: PATH'), found \(entriesNode.kind)"
            )
            return
        }
        var entries: [AddressEntry] = []
        var seen: [String: SourcePosition] = [:]
        for (keyNode, valueNode) in mapping {
            let key = YNode(node: keyNode, file: entriesNode.file)
            let value = YNode(node: valueNode, file: entriesNode.file)
            guard let kennung = reader.string(key, "an address directory kennung") else { continue }
            if let first = seen[kennung] {
                diagnostics.error(key.position, "kennung '\(kennung)' is already in the address directory at \(first)")
                continue
            }
            seen[kennung] = key.position
            let context = "address directory entry '\(kennung)'"
            guard let fields = reader.fields(value, context, allowed: ["endpoint", "name"]),
                let endpointNode = reader.require(
                    fields, "endpoint", context, expected: "the endpoint that reaches this authority"),
                let endpoint = reader.string(endpointNode, "endpoint of \(context)")
            else { continue }
            let name = fields["name"].flatMap { reader.string($0, "name of \(context)") }
            guard sendableEndpoint(endpoint, at: endpointNode, role: context) else { continue }
            entries.append(AddressEntry(kennung: kennung, endpoint: endpoint, name: name))
        }
        settings.addressDirectory = AddressDirectory(entries)
        addressDirectoryDeclared = true
    }
}
