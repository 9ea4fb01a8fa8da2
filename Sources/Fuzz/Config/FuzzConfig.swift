// libFuzzer target: bytes → a YAML configuration file in a scratch directory →
// ConfigurationLoader.
//
// Built only by `scripts/fuzz` (with `-sanitize=fuzzer,address -D STADTBUS_FUZZ`); a normal
// `swift build` compiles the usage stub at the end of this file instead.
import Foundation
import StadtbusAdapters
import StadtbusConfig

#if STADTBUS_FUZZ

    /// The directory for the input file: `$STADTBUS_FUZZ_SCRATCH` (scripts/fuzz passes one under
    /// run/), else a private one created under the temporary directory. The file name stays the
    /// same, so relative `include:`s of the input resolve next to it (and mostly miss).
    private let scratch: String? = {
        if let directory = ProcessInfo.processInfo.environment["STADTBUS_FUZZ_SCRATCH"], !directory.isEmpty {
            return (try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true))
                != nil
                ? directory : nil
        }
        let template = FileManager.default.temporaryDirectory.appendingPathComponent("stadtbus-fuzz-config.XXXXXX").path
        var bytes = Array(template.utf8CString)
        return bytes.withUnsafeMutableBufferPointer { buffer -> String? in
            guard let base = buffer.baseAddress, mkdtemp(base) != nil else { return nil }
            return String(cString: base)
        }
    }()

    /// A loader with an empty, fixed environment (results must not depend on the caller's) and
    /// the adapters of the `stadtbus` executable (their settings schemas are fuzzed too).
    private let loader = ConfigurationLoader(
        environment: [:], adapterTypes: StandardAdapters.registry.types, steps: StandardAdapters.registry.steps)

    /// libFuzzer's entry point: one input per call. `ConfigurationError`s are the expected
    /// outcome for almost every input; only crashes, sanitizer reports, timeouts and memory
    /// blow-ups are findings.
    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzConfigLoader(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
        guard let scratch else { fatalError("cannot create a scratch directory for the fuzz input") }
        let path = scratch + "/stadtbus.yaml"
        let contents = data.map { Data(bytes: $0, count: size) } ?? Data()
        guard FileManager.default.createFile(atPath: path, contents: contents) else {
            fatalError("cannot write \(path)")
        }
        _ = try? loader.load(path: path)
        return 0
    }

    /// The process entry point. SwiftPM links Linux executables with `main` pointing at
    /// `<module>_main` (so test targets can import them), which would bypass libFuzzer's own
    /// `main`; this symbol hands control to libFuzzer's driver instead.
    @_cdecl("stadtbus_fuzz_config_main")
    public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
        var argc = argc
        var argv = argv
        return LLVMFuzzerRunDriver(&argc, &argv, fuzzConfigLoader)
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
    enum FuzzConfigUsage {
        static func main() {
            print("stadtbus-fuzz-config is a libFuzzer target; build and run it with scripts/fuzz config")
        }
    }

#endif
