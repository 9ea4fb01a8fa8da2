internal import CLibXML
import Foundation
import StadtbusXML

/// Small read-only helpers over libxml2 element trees (package-internal).
enum XMLNodes {
    static let dsigNamespace = "http://www.w3.org/2000/09/xmldsig#"
    static let excC14NNamespace = "http://www.w3.org/2001/10/xml-exc-c14n#"

    /// The element children of `node`, in document order.
    static func elementChildren(_ node: xmlNodePtr) -> [xmlNodePtr] {
        var result: [xmlNodePtr] = []
        var child = node.pointee.children
        while let current = child {
            if current.pointee.type == XML_ELEMENT_NODE { result.append(current) }
            child = current.pointee.next
        }
        return result
    }

    /// Whether `node` is the element `{namespace}name`.
    /// Compares C strings in place: this runs for every element of a message.
    static func isElement(_ node: xmlNodePtr, _ name: String, namespace: String = dsigNamespace) -> Bool {
        guard node.pointee.type == XML_ELEMENT_NODE, let local = node.pointee.name, equal(local, name),
            let ns = node.pointee.ns, let href = ns.pointee.href
        else {
            return false
        }
        return equal(href, namespace)
    }

    private static func equal(_ text: UnsafePointer<xmlChar>, _ string: String) -> Bool {
        text.withMemoryRebound(to: CChar.self, capacity: 1) { strcmp($0, string) == 0 }
    }

    /// `{namespace}name` of an element, for messages.
    static func qualifiedName(_ node: xmlNodePtr) -> String {
        let name = String(cString: node.pointee.name)
        guard let ns = node.pointee.ns, let href = ns.pointee.href else { return name }
        return "{\(String(cString: href))}\(name)"
    }

    /// The value of an attribute without namespace, or `nil` if absent.
    static func attribute(_ node: xmlNodePtr, _ name: String) -> String? {
        guard xmlHasNsProp(node, name, nil) != nil else { return nil }
        guard let value = xmlGetNoNsProp(node, name) else { return "" }
        defer { libxmlFree(value) }
        return String(cString: value)
    }

    /// The names of all attributes of `node`.
    static func attributeNames(_ node: xmlNodePtr) -> [String] {
        var names: [String] = []
        var attribute = node.pointee.properties
        while let current = attribute {
            names.append(String(cString: current.pointee.name))
            attribute = current.pointee.next
        }
        return names
    }

    /// The concatenated text content of `node`.
    static func text(_ node: xmlNodePtr) -> String {
        guard let content = xmlNodeGetContent(node) else { return "" }
        defer { libxmlFree(content) }
        return String(cString: content)
    }

    /// Every element of the tree below (and including) `node`, in document order, without recursion.
    static func forEachElement(under node: xmlNodePtr, _ body: (xmlNodePtr) -> Void) {
        var current: xmlNodePtr? = node
        while let element = current {
            if element.pointee.type == XML_ELEMENT_NODE { body(element) }
            if let child = element.pointee.children, element.pointee.type == XML_ELEMENT_NODE {
                current = child
                continue
            }
            var next: xmlNodePtr? = element
            current = nil
            while let candidate = next, candidate != node {
                if let sibling = candidate.pointee.next {
                    current = sibling
                    break
                }
                next = candidate.pointee.parent
            }
        }
    }
}
