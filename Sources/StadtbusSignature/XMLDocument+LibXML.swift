internal import CLibXML
import StadtbusXML

extension XMLDocument {
    /// The libxml2 document behind an ``XMLDocument`` (StadtbusXML shares it untyped within
    /// the package so that libxml2's types stay out of every module interface).
    var libxmlDocument: xmlDocPtr {
        unsafeRawDocument.assumingMemoryBound(to: xmlDoc.self)
    }
}
