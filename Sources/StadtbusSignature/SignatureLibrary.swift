internal import CLibXML
internal import CXMLShim
import Foundation
import StadtbusXML

/// Process-wide set-up of xmlsec1 (OpenSSL engine), done once before any signature call.
///
/// ## Thread safety
/// - xmlsec is initialised exactly once (`xmlSecInit`, `xmlSecOpenSSLAppInit`,
///   `xmlSecOpenSSLInit`), guarded by a Swift `static let`, after libxml2
///   (``XMLLibrary/initialize()``). Every public entry point of this module calls it.
/// - ``SigningKey``, ``TrustStore`` and ``SignatureVerifier`` are immutable after
///   construction and `Sendable`: one instance serves any number of threads at once.
///   Each sign or verify call creates its own `xmlSecDSigCtx` (and, for signing, a cheap
///   duplicate of the loaded key, which shares the OpenSSL `EVP_PKEY` by reference count);
///   OpenSSL 3 allows concurrent use of one `EVP_PKEY` and one `X509_STORE`.
/// - An ``XMLDocument`` belongs to one task at a time; signing changes it in place.
/// - xmlsec's error reports go to a per-thread buffer (never to stderr); they only add
///   detail to ``SignatureFailure/malformed(_:)`` and ``SignatureSetupError`` messages.
public enum SignatureLibrary {
    private static let status: Int32 = {
        XMLLibrary.initialize()
        return stadtbus_xmlsec_initialize()
    }()

    /// Initialises xmlsec1 and OpenSSL; cheap after the first call.
    /// - Throws: ``SignatureSetupError/libraryInitializationFailed(step:)`` if xmlsec does
    ///   not initialise (e.g. a library version that is not ABI compatible).
    public static func initialize() throws(SignatureSetupError) {
        if status != 0 { throw .libraryInitializationFailed(step: Int(status)) }
    }

    /// The first xmlsec error reported on this thread since the last reset, if any.
    static func takeXMLSecError() -> String? {
        let text = String(cString: stadtbus_xmlsec_first_error())
        stadtbus_xmlsec_reset_errors()
        return text.isEmpty ? nil : text
    }

    /// Empties this thread's xmlsec and OpenSSL error queues before an operation.
    static func resetErrors() {
        stadtbus_xmlsec_reset_errors()
        ERR_clear_error()
    }

    /// OpenSSL's error queue of this thread as text (emptied), or `nil` when empty.
    static func takeOpenSSLErrors() -> String? {
        var messages: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            messages.append(String(cString: buffer))
        }
        return messages.isEmpty ? nil : messages.joined(separator: "; ")
    }
}
