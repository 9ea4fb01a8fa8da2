// libFuzzer target: untrusted bytes → guarded parser → header extraction (built-in profiles).
//
// Built only by `scripts/fuzz` (with `-sanitize=fuzzer,address -D STADTBUS_FUZZ`); a normal
// `swift build` compiles the usage stub at the end of this file instead.
import Foundation
import StadtbusXML

#if STADTBUS_FUZZ

    /// The extractor with the built-in profiles (XÖV g2g qualified/unqualified, xdomea,
    /// XRechnung UBL/CII), compiled once per process as in the service.
    private let extractor: HeaderExtractor? = try? HeaderExtractor()

    /// libFuzzer's entry point: one input per call. Every error is an expected outcome;
    /// only crashes, sanitizer reports, timeouts and memory blow-ups are findings.
    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzXMLIntake(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
        guard let extractor else { fatalError("the built-in header profiles do not compile") }
        let bytes = UnsafeBufferPointer(start: data, count: data == nil ? 0 : size)
        guard let document = try? XMLDocument(parsing: bytes) else { return 0 }
        _ = document.rootName
        _ = document.rootNamespace
        if let header = try? extractor.header(of: document) {
            _ = header.creationDate
        }
        return 0
    }

    /// The process entry point. SwiftPM links Linux executables with `main` pointing at
    /// `<module>_main` (so test targets can import them), which would bypass libFuzzer's own
    /// `main`; this symbol hands control to libFuzzer's driver instead.
    @_cdecl("stadtbus_fuzz_xml_main")
    public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
        var argc = argc
        var argv = argv
        return LLVMFuzzerRunDriver(&argc, &argv, fuzzXMLIntake)
    }

    /// libFuzzer's driver (LLVM 12 and later), linked in by `-sanitize=fuzzer`.
    @_silgen_name("LLVMFuzzerRunDriver")
    private func LLVMFuzzerRunDriver(
        _ argc: UnsafeMutablePointer<CInt>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
        _ testOneInput: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
    ) -> CInt

#else

    /// Without `STADTBUS_FUZZ` the target is a stub, so `swift build` of the package works.
    @main
    enum FuzzXMLUsage {
        static func main() {
            print("stadtbus-fuzz-xml is a libFuzzer target; build and run it with scripts/fuzz xml")
        }
    }

#endif
