// stadtbus-sign-bench: sign and verify throughput of StadtbusSignature on real XÖV messages.
//
//   swift run -c release stadtbus-sign-bench [seconds-per-case [label-filter]]
//
// Uses the development PKI (runs certs/make-dev-certs, which is idempotent) and the
// messages in $STADTBUS_SHARED/xoev (default: ../shared beside the package root).
// Prints figures; asserts nothing.
import Dispatch
import Foundation
import StadtbusSignature
import StadtbusXML

let packageRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let shared =
    ProcessInfo.processInfo.environment["STADTBUS_SHARED"].map { URL(fileURLWithPath: $0) }
    ?? packageRoot.deletingLastPathComponent().appendingPathComponent("shared")
let secondsPerCase = CommandLine.arguments.dropFirst().first.flatMap(Double.init) ?? 2.0

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("stadtbus-sign-bench: \(message)\n".utf8))
    exit(1)
}

func makeDevCerts() {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/bash")
    process.arguments = [packageRoot.appendingPathComponent("certs/make-dev-certs").path]
    process.standardOutput = FileHandle.nullDevice
    do { try process.run() } catch { fail("cannot run certs/make-dev-certs: \(error)") }
    process.waitUntilExit()
    if process.terminationStatus != 0 { fail("certs/make-dev-certs failed") }
}

/// CPU time consumed by the calling thread, in seconds.
func threadCPUTime() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

/// Throughput of one case: by wall-clock time, and per CPU-second of the worker threads
/// (the figure that matters on a machine shared with other work: "ops/s per core").
struct Throughput {
    var wall: Double
    var perCPUSecond: Double
}

/// Runs `body` repeatedly for about `secondsPerCase` on `threads` threads.
/// `body` receives the thread's index.
func measure(threads: Int = 1, _ body: @escaping @Sendable (Int) throws -> Void) -> Throughput {
    let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(secondsPerCase * 1e9)
    let counts = UnsafeMutableBufferPointer<Int>.allocate(capacity: threads)
    let cpu = UnsafeMutableBufferPointer<Double>.allocate(capacity: threads)
    defer {
        counts.deallocate()
        cpu.deallocate()
    }
    counts.initialize(repeating: 0)
    cpu.initialize(repeating: 0)
    let start = DispatchTime.now().uptimeNanoseconds
    nonisolated(unsafe) let sharedCounts = counts
    nonisolated(unsafe) let sharedCPU = cpu
    DispatchQueue.concurrentPerform(iterations: threads) { thread in
        var count = 0
        let cpuStart = threadCPUTime()
        do {
            while DispatchTime.now().uptimeNanoseconds < deadline {
                for _ in 0..<20 { try body(thread) }
                count += 20
            }
        } catch {
            fail("benchmark body failed: \(error)")
        }
        sharedCounts[thread] = count
        sharedCPU[thread] = threadCPUTime() - cpuStart
    }
    let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    let total = Double(counts.reduce(0, +))
    return Throughput(wall: total / elapsed, perCPUSecond: total / max(cpu.reduce(0, +), 1e-9))
}

/// Optional second argument: only cases whose label contains it are run.
let only = CommandLine.arguments.dropFirst(2).first

func row(_ label: String, _ result: @autoclosure () -> Throughput) {
    if let only, !label.contains(only) { return }
    let result = result()
    let padded = label.padding(toLength: 56, withPad: " ", startingAt: 0)
    print(
        "\(padded) \(String(format: "%7.0f", result.wall)) ops/s wall  \(String(format: "%7.0f", result.perCPUSecond)) ops/CPU-s  \(String(format: "%6.0f", 1e6 / result.perCPUSecond)) µs CPU/op"
    )
}

makeDevCerts()
let authorities = packageRoot.appendingPathComponent("certs/out/authorities").path
let verifier: SignatureVerifier
let keys: [(String, SigningKey)]
do {
    keys = [
        (
            "ECDSA-P256",
            try SigningKey(pemKey: "\(authorities)/itzehoe-ec.key", certificate: "\(authorities)/itzehoe-ec.pem")
        ),
        (
            "RSA-2048",
            try SigningKey(pemKey: "\(authorities)/itzehoe-rsa.key", certificate: "\(authorities)/itzehoe-rsa.pem")
        ),
    ]
    verifier = try SignatureVerifier(
        trustStore: try TrustStore(directory: packageRoot.appendingPathComponent("certs/trust").path))
} catch {
    fail("cannot load keys or trust store: \(error)")
}

let messages = [
    ("xdomea 0501", "xoev/xdomea-3.0.0/examples/Aussonderung.Anbieteverzeichnis.0501.xml"),
    ("xbeteiligung 0402", "xoev/xbeteiligung-1.2/examples/kommunal.Aktualisieren.0402.xml"),
]
let extractor: HeaderExtractor
do { extractor = try HeaderExtractor() } catch { fail("header profiles: \(error)") }
let cores = ProcessInfo.processInfo.activeProcessorCount

print("StadtbusSignature benchmark (\(secondsPerCase) s per case, \(cores) cores)")
for (name, path) in messages {
    let bytes: [UInt8]
    do { bytes = Array(try Data(contentsOf: shared.appendingPathComponent(path))) } catch {
        fail("cannot read \(path): \(error)")
    }
    print("\n\(name): \(bytes.count) bytes")
    // Documents are not shared between threads: one parsed template per thread.
    let templates: [XMLDocument]
    do { templates = try (0..<cores).map { _ in try XMLDocument(parsing: bytes) } } catch {
        fail("cannot parse \(path): \(error)")
    }
    nonisolated(unsafe) let sources = templates
    @Sendable func copyTemplate(_ thread: Int) throws -> XMLDocument { try sources[thread].copy() }
    row("  copy parsed document (baseline, included below)", measure { _ = try copyTemplate($0) })
    for (label, key) in keys {
        row("  sign \(label) (copy + sign)", measure { try key.sign(try copyTemplate($0)) })
        row(
            "  sign \(label) (copy + sign + serialise)",
            measure {
                let document = try copyTemplate($0)
                try key.sign(document)
                _ = try document.serialized()
            })
        if cores > 1 {
            row(
                "  sign \(label), \(cores) threads (total)",
                measure(threads: cores) { try key.sign(try copyTemplate($0)) })
        }
        let signedBytes: [UInt8]
        do {
            let document = try copyTemplate(0)
            try key.sign(document)
            signedBytes = try document.serialized()
        } catch { fail("signing failed: \(error)") }
        let author: String
        do {
            let header = try extractor.header(of: try XMLDocument(parsing: signedBytes))
            author = header.author?.kennung ?? ""
        } catch { fail("header: \(error)") }
        let identities = SignerIdentities(rules: [author: [.fingerprintSHA256(key.certificate.fingerprintSHA256)]])
        let bound: SignatureVerifier
        do { bound = try SignatureVerifier(trustStore: verifier.trustStore, identities: identities) } catch {
            fail("\(error)")
        }
        let signedDocument: XMLDocument
        do { signedDocument = try XMLDocument(parsing: signedBytes) } catch { fail("\(error)") }
        nonisolated(unsafe) let parsed = signedDocument
        row("  verify \(label) (parsed document)", measure { _ in _ = try bound.verify(parsed, authorKennung: author) })
        row(
            "  verify \(label) (parse + header + verify)",
            measure { _ in
                let document = try XMLDocument(parsing: signedBytes)
                _ = try bound.verify(document, header: try extractor.header(of: document))
            })
        if cores > 1 {
            row(
                "  verify \(label), \(cores) threads (parse + verify, total)",
                measure(threads: cores) { _ in
                    _ = try bound.verify(try XMLDocument(parsing: signedBytes), authorKennung: author)
                })
        }
    }
}
