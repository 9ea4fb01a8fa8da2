// stadtbus-bench — the route benchmark (issue 8): what a message costs in the engine compared
// with the bare C chain, and (with `e2e`) what the real `stadtbus run` does through the broker.
//
//   swift build -c release --product stadtbus-bench
//   .build/release/stadtbus-bench [offline] [--seconds N] [--shared DIR] [--certs DIR]
//   .build/release/stadtbus-bench e2e --stadtbus .build/release/stadtbus [--workers 2,4] [--passthrough N] [--full N]
//          [--rate 1000] [--rate-seconds 5] [--memory N] [--port 5672] [--raw-relay PATH] [--stores one|separate]
//          (the raw ceiling runs `stadtbus-raw-relay` from beside --stadtbus unless --raw-relay names it)
//   scripts/bench                   both, with a release build and the main broker
//
// Prints one line per figure (`name value unit`); asserts nothing. Wall-clock figures are noisy on a
// shared machine; the CPU figures (`*_cpu_us`, CLOCK_PROCESS_CPUTIME_ID) are the ones to compare.
import Foundation
import StadtbusConfig
import StadtbusCore
import StadtbusSignature
import StadtbusStandard
import StadtbusXML
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

// MARK: Options

struct Options {
    var mode = "offline"
    var seconds = 2.0
    var shared = ProcessInfo.processInfo.environment["STADTBUS_SHARED"] ?? "../shared"
    var certs = "certs"
    var stadtbus = ".build/release/stadtbus"
    var workers = [2, 4]
    var passthroughCount = 20_000
    var fullCount = 5_000
    var rate = 1_000
    var rateSeconds = 5.0
    var memoryCount = 200_000
    var rawRelay: String?
    var port = 5672
    var only: Set<String> = []
    var profileCount = 200
    /// `one`: idempotency records and audit journal in one SQLite file (one commit per message);
    /// `separate`: two files (two commits per message).
    var stores = "one"
    var storeFiles: (idempotency: String, audit: String) {
        stores == "separate" ? ("./idempotency.sqlite", "./audit.sqlite") : ("./store.sqlite", "./store.sqlite")
    }

    init(_ arguments: [String]) {
        var iterator = arguments.dropFirst().makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "offline", "e2e": mode = argument
            case "--seconds": seconds = iterator.next().flatMap(Double.init) ?? seconds
            case "--shared": shared = iterator.next() ?? shared
            case "--certs": certs = iterator.next() ?? certs
            case "--stadtbus": stadtbus = iterator.next() ?? stadtbus
            case "--workers": workers = (iterator.next() ?? "").split(separator: ",").compactMap { Int($0) }
            case "--passthrough": passthroughCount = iterator.next().flatMap(Int.init) ?? passthroughCount
            case "--full": fullCount = iterator.next().flatMap(Int.init) ?? fullCount
            case "--rate": rate = iterator.next().flatMap(Int.init) ?? rate
            case "--rate-seconds": rateSeconds = iterator.next().flatMap(Double.init) ?? rateSeconds
            case "--memory": memoryCount = iterator.next().flatMap(Int.init) ?? memoryCount
            case "--raw-relay": rawRelay = iterator.next()
            case "--port": port = iterator.next().flatMap(Int.init) ?? port
            case "--profile-count": profileCount = iterator.next().flatMap(Int.init) ?? profileCount
            case "--stores": stores = iterator.next() ?? stores
            case "--only": only = Set((iterator.next() ?? "").split(separator: ",").map(String.init))
            default:
                FileHandle.standardError.write(Data("unknown argument \(argument)\n".utf8))
                exit(2)
            }
        }
    }

    /// `--only` selects parts; `profile` runs only when named.
    func wants(_ name: String) -> Bool { only.isEmpty ? name != "profile" : only.contains(name) }
}

func fail(_ text: String) -> Never {
    FileHandle.standardError.write(Data("stadtbus-bench: \(text)\n".utf8))
    exit(1)
}

func figure(_ name: String, _ value: Double, _ unit: String, decimals: Int = 0) {
    print(String(format: "%@ %.\(decimals)f %@", name, value, unit))
    fflush(nil)  // all output streams: the figures are read while the bench runs
}

// MARK: Clocks

/// CPU time of the whole process (all threads), in seconds.
func processCPU() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func wallClock() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

struct Sample {
    var count: Int
    var wall: Double
    var cpu: Double
    var perSecond: Double { Double(count) / wall }
    var cpuMicrosPerMessage: Double { cpu / Double(count) * 1e6 }
}

// MARK: Message with a fresh nachrichtenUUID per use

/// The message bytes with the XÖV message id replaced in place by a counter-based UUID of the
/// same length (so the engine's idempotency check never sees a duplicate). Same cost for the
/// bare chain and the engine.
struct MessageTemplate: @unchecked Sendable {
    let bytes: [UInt8]
    let uuidOffset: Int

    init(path: String) {
        guard let data = FileManager.default.contents(atPath: path) else {
            fail("cannot read \(path) (use --shared DIR)")
        }
        bytes = Array(data)
        let text = String(decoding: bytes, as: UTF8.self)
        // XBeteiligung and XWasser carry nachrichtenUUID, xdomea its ProzessID.
        guard let range = text.range(of: #"(nachrichtenUUID|ProzessID)>[0-9a-f-]{36}<"#, options: .regularExpression)
        else {
            fail("no nachrichtenUUID or ProzessID in \(path)")
        }
        let tag = text[range].prefix { $0 != ">" }
        uuidOffset = text.utf8.distance(from: text.utf8.startIndex, to: range.lowerBound) + tag.utf8.count + 1
    }

    func uuid(_ n: Int, prefix: UInt32) -> String {
        // 8-4-4-4-12 hex: prefix, then the counter in the last group.
        String(format: "%08x-0000-4000-8000-%012llx", prefix, UInt64(bitPattern: Int64(n)) & 0xffff_ffff_ffff)
    }

    func message(_ n: Int, prefix: UInt32 = 0xbe_0c_00_00) -> [UInt8] {
        var copy = bytes
        let id = Array(uuid(n, prefix: prefix).utf8)
        copy.withUnsafeMutableBufferPointer { buffer in
            for (i, byte) in id.enumerated() { buffer[uuidOffset + i] = byte }
        }
        return copy
    }
}

// MARK: Offline: bare chain vs engine

/// A realistic forwarding stylesheet for XBeteiligung 0402: identity copy of the message (comments
/// dropped) with a receipt stamp at the top and the procedure's planID echoed into a PI.
let stylesheetText = """
    <xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
        xmlns:xbet="https://www.xleitstelle.de/xbeteiligung/12">
      <xsl:param name="eingang"/>
      <xsl:param name="instanz"/>
      <xsl:template match="/">
        <xsl:processing-instruction name="stadtbus-eingang">
          <xsl:value-of select="concat($instanz, ' ', $eingang, ' plan=', string(//xbet:planID))"/>
        </xsl:processing-instruction>
        <xsl:apply-templates select="node()"/>
      </xsl:template>
      <xsl:template match="comment()"/>
      <xsl:template match="@*|node()">
        <xsl:copy><xsl:apply-templates select="@*|node()"/></xsl:copy>
      </xsl:template>
    </xsl:stylesheet>
    """

struct Fixture {
    let directory: String
    let configPath: String
    let stylesheetPath: String
    let schemaPath: String
    let ecKey: (pem: String, cert: String)
    let rsaKey: (pem: String, cert: String)
}

func makeFixture(options: Options, endpoints: String, extraTop: String = "") -> Fixture {
    let directory = NSTemporaryDirectory() + "stadtbus-bench-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let certs = URL(fileURLWithPath: options.certs).standardizedFileURL.path
    let shared = URL(fileURLWithPath: options.shared).standardizedFileURL.path
    let schema = "\(shared)/xoev/xbeteiligung-1.2/schemas/xbeteiligung-kommunaleBauleitplanung.xsd"
    let ec = ("\(certs)/out/authorities/itzehoe-ec.key", "\(certs)/out/authorities/itzehoe-ec.pem")
    let rsa = ("\(certs)/out/authorities/itzehoe-rsa.key", "\(certs)/out/authorities/itzehoe-rsa.pem")
    for path in [ec.0, ec.1, rsa.0, rsa.1] where !FileManager.default.fileExists(atPath: path) {
        fail("missing \(path): run certs/make-dev-certs (or pass --certs DIR)")
    }
    let stylesheet = "\(directory)/bench-forward.xsl"
    try? stylesheetText.write(toFile: stylesheet, atomically: true, encoding: .utf8)
    let config = """
        identity: { kennung: "ags:01061046", name: Stadtbus Bench, directory: DVDV }
        namespaces:
          xbet: https://www.xleitstelle.de/xbeteiligung/12
        schemas:
          xbeteiligung: \(schema)
        keys:
          ec: { certificate: \(ec.1), private-key: \(ec.0) }
          rsa: { certificate: \(rsa.1), private-key: \(rsa.0) }
        \(extraTop)
        endpoints:
        \(endpoints)
        routes:
          - name: passthrough
            from: in.passthrough
            to: out.passthrough
          - name: full-ec
            from: in.full-ec
            steps:
              - validate: xbeteiligung
              - map: { xslt: \(stylesheet), parameters: { eingang: "{header.createdAt}", instanz: itzehoe-dms } }
              - sign: ec
            to: out.full
          - name: full-rsa
            from: in.full-rsa
            steps:
              - validate: xbeteiligung
              - map: { xslt: \(stylesheet), parameters: { eingang: "{header.createdAt}", instanz: itzehoe-dms } }
              - sign: rsa
            to: out.full

        """
    let configPath = "\(directory)/bench.yaml"
    try? config.write(toFile: configPath, atomically: true, encoding: .utf8)
    return Fixture(
        directory: directory, configPath: configPath, stylesheetPath: stylesheet, schemaPath: schema, ecKey: ec,
        rsaKey: rsa)
}

/// Runs `body(n)` on one thread for about `seconds`.
func measureSerial(seconds: Double, _ body: (Int) throws -> Void) rethrows -> Sample {
    // Warm-up (allocator, caches, lazy init).
    for n in 0..<50 { try body(-1 - n) }
    let cpu0 = processCPU()
    let wall0 = wallClock()
    var n = 0
    var wall = 0.0
    repeat {
        for _ in 0..<20 {
            try body(n)
            n += 1
        }
        wall = wallClock() - wall0
    } while wall < seconds
    return Sample(count: n, wall: wall, cpu: processCPU() - cpu0)
}

func measureSerialAsync(seconds: Double, _ body: (Int) async throws -> Void) async rethrows -> Sample {
    for n in 0..<50 { try await body(-1 - n) }
    let cpu0 = processCPU()
    let wall0 = wallClock()
    var n = 0
    var wall = 0.0
    repeat {
        for _ in 0..<20 {
            try await body(n)
            n += 1
        }
        wall = wallClock() - wall0
    } while wall < seconds
    return Sample(count: n, wall: wall, cpu: processCPU() - cpu0)
}

/// Runs `body` on `threads` threads for about `seconds` (throughput on all cores).
func measureParallel(threads: Int, seconds: Double, _ body: @escaping @Sendable (Int, Int) throws -> Void) -> Sample {
    let counts = Mutex([Int](repeating: 0, count: threads))
    let cpu0 = processCPU()
    let wall0 = wallClock()
    DispatchQueue.concurrentPerform(iterations: threads) { thread in
        var n = 0
        repeat {
            do { try body(thread, n) } catch { fail("\(error)") }
            n += 1
        } while wallClock() - wall0 < seconds
        counts.withLock { $0[thread] = n }
    }
    return Sample(count: counts.withLock { $0.reduce(0, +) }, wall: wallClock() - wall0, cpu: processCPU() - cpu0)
}

func report(_ name: String, _ sample: Sample) {
    figure("\(name)_rate", sample.perSecond, "msg/s")
    figure("\(name)_cpu_us", sample.cpuMicrosPerMessage, "us/msg", decimals: 1)
}

final class Box<T>: @unchecked Sendable {
    var value: T
    init(_ value: T) { self.value = value }
}

func runOffline(_ options: Options) async {
    let message = MessageTemplate(
        path: "\(options.shared)/xoev/xbeteiligung-1.2/examples/kommunal.Aktualisieren.0402.xml")
    let endpoints = ["in.passthrough", "out.passthrough", "in.full-ec", "in.full-rsa", "out.full"]
        .map { "  \($0): { type: amqp, queue: bench.\($0) }" }.joined(separator: "\n")
    let fixture = makeFixture(options: options, endpoints: endpoints)
    defer { try? FileManager.default.removeItem(atPath: fixture.directory) }

    let loaded: LoadedConfiguration
    do {
        var loader = StandardLoader.make()
        loader.schemaCache = XMLSchemaCache()
        loaded = try loader.load(path: fixture.configPath)
    } catch { fail("configuration: \(error)") }

    let schema: XMLSchema
    let stylesheet: XSLTStylesheet
    let extractor: HeaderExtractor
    let ecKey: SigningKey
    let rsaKey: SigningKey
    do {
        schema = try XMLSchema(path: fixture.schemaPath)
        stylesheet = try XSLTStylesheet(path: fixture.stylesheetPath)
        extractor = try HeaderExtractor()
        ecKey = try SigningKey(pemKey: fixture.ecKey.pem, certificate: fixture.ecKey.cert)
        rsaKey = try SigningKey(pemKey: fixture.rsaKey.pem, certificate: fixture.rsaKey.cert)
    } catch { fail("set-up: \(error)") }

    print("message_bytes \(message.bytes.count) bytes")
    print("seconds_per_figure \(options.seconds) s")

    /// The bare chain through the façades: parse → header → validate → XSLT → sign → serialise.
    @Sendable func bare(_ n: Int, key: SigningKey?, full: Bool) throws -> Int {
        let document = try XMLDocument(parsing: message.message(n))
        let header = try extractor.header(of: document)
        guard full else { return header.messageID.utf8.count }
        guard schema.validate(document).isEmpty else { fail("the benchmark message is not valid") }
        let output = try stylesheet.transform(
            document, parameters: ["eingang": header.createdAt.map { "\($0)" } ?? "", "instanz": "itzehoe-dms"])
        if let key { try key.sign(output) }
        return try output.serialized().count
    }
    do {
        let probe = try XMLDocument(parsing: message.message(0))
        print("header_profile \(try extractor.header(of: probe).profile) name")
        print("output_bytes_signed_ec \(try bare(0, key: ecKey, full: true)) bytes")
    } catch { fail("bare chain: \(error)") }

    let sink = RecordingSink()
    let engine = RoutingEngine(
        table: loaded.table, sink: sink, idempotency: InMemoryIdempotencyStore(), journal: InMemoryAuditJournal())
    func engineMessage(_ n: Int, source: String, prefix: UInt32) -> Message {
        Message(body: message.message(n, prefix: prefix), source: source)
    }
    // Sanity: every route completes once.
    for (i, source) in ["in.passthrough", "in.full-ec", "in.full-rsa"].enumerated() {
        let disposition = await engine.process(engineMessage(1_000_000 + i, source: source, prefix: 0x5a17_0000))
        guard disposition == .completed else { fail("\(source): \(disposition)") }
    }

    if options.wants("profile") {
        // For `valgrind --tool=callgrind`: only the engine on the full ECDSA route, a fixed count.
        for n in 0..<options.profileCount {
            let disposition = await engine.process(engineMessage(n, source: "in.full-ec", prefix: 0x9f0f_0000))
            if disposition != .completed { fail("profile: \(disposition)") }
        }
        print("profile_messages \(options.profileCount) messages")
        return
    }

    var ratios: [(String, Double)] = []
    func pair(_ name: String, source: String, prefix: UInt32, bareBody: (Int) throws -> Void) async {
        do {
            let b = try measureSerial(seconds: options.seconds, bareBody)
            report("\(name)_bare", b)
            let e = await measureSerialAsync(seconds: options.seconds) { n in
                let disposition = await engine.process(engineMessage(n, source: source, prefix: prefix))
                if disposition != .completed { fail("\(name) engine: \(disposition)") }
            }
            report("\(name)_engine", e)
            let ratio = e.cpuMicrosPerMessage / b.cpuMicrosPerMessage
            figure("\(name)_engine_over_bare_cpu", ratio, "ratio", decimals: 3)
            ratios.append((name, ratio))
        } catch { fail("\(name): \(error)") }
    }

    if options.wants("passthrough") {
        await pair("passthrough", source: "in.passthrough", prefix: 0x0a55_0000) { n in
            _ = try bare(n, key: nil, full: false)
        }
    }
    if options.wants("passthrough") {
        // The engine always serialises the document for delivery, even when no step changed it.
        do {
            report(
                "passthrough_bare_with_serialize",
                try measureSerial(seconds: options.seconds) { n in
                    let document = try XMLDocument(parsing: message.message(n))
                    _ = try extractor.header(of: document)
                    _ = try document.serialized()
                })
        } catch { fail("passthrough: \(error)") }
    }
    if options.wants("ec") {
        await pair("full_ecdsa", source: "in.full-ec", prefix: 0x0ec0_0000) { n in
            _ = try bare(n, key: ecKey, full: true)
        }
    }
    if options.wants("rsa") {
        await pair("full_rsa", source: "in.full-rsa", prefix: 0x0a5a_0000) { n in
            _ = try bare(n, key: rsaKey, full: true)
        }
    }
    if options.wants("steps") {
        // Where the bare time goes, step by step (one core).
        do {
            let doc = try XMLDocument(parsing: message.message(7))
            let header = try extractor.header(of: doc)
            let params = ["eingang": header.createdAt.map { "\($0)" } ?? "", "instanz": "itzehoe-dms"]
            report(
                "step_parse",
                try measureSerial(seconds: options.seconds / 2) { n in _ = try XMLDocument(parsing: message.message(n))
                })
            report(
                "step_header",
                try measureSerial(seconds: options.seconds / 2) { _ in _ = try extractor.header(of: doc) })
            report("step_validate", measureSerial(seconds: options.seconds / 2) { _ in _ = schema.validate(doc) })
            report(
                "step_xslt",
                try measureSerial(seconds: options.seconds / 2) { _ in
                    _ = try stylesheet.transform(doc, parameters: params)
                })
            report(
                "step_xslt_sign_ecdsa",
                try measureSerial(seconds: options.seconds / 2) { _ in
                    try ecKey.sign(try stylesheet.transform(doc, parameters: params))
                })
            report(
                "step_xslt_sign_rsa",
                try measureSerial(seconds: options.seconds / 2) { _ in
                    try rsaKey.sign(try stylesheet.transform(doc, parameters: params))
                })
            let signed = try stylesheet.transform(doc, parameters: params)
            try ecKey.sign(signed)
            report(
                "step_serialize", try measureSerial(seconds: options.seconds / 2) { _ in _ = try signed.serialized() })
        } catch { fail("steps: \(error)") }
    }

    if options.wants("parallel") {
        // All cores: full ECDSA route, bare threads vs engine tasks.
        let threads = ProcessInfo.processInfo.activeProcessorCount
        print("cores \(threads) cores")
        let b = measureParallel(threads: threads, seconds: options.seconds) { thread, n in
            _ = try bare(thread * 10_000_000 + n, key: ecKey, full: true)
        }
        report("full_ecdsa_bare_\(threads)threads", b)
        let cpu0 = processCPU()
        let wall0 = wallClock()
        let seconds = options.seconds
        let total = await withTaskGroup(of: Int.self) { group in
            for task in 0..<threads {
                group.addTask {
                    var n = 0
                    repeat {
                        let disposition = await engine.process(
                            Message(
                                body: message.message(task * 10_000_000 + n, prefix: 0x9a1a_0000), source: "in.full-ec")
                        )
                        if disposition != .completed { fail("parallel engine: \(disposition)") }
                        n += 1
                    } while wallClock() - wall0 < seconds
                    return n
                }
            }
            return await group.reduce(0, +)
        }
        report(
            "full_ecdsa_engine_\(threads)tasks",
            Sample(count: total, wall: wallClock() - wall0, cpu: processCPU() - cpu0))
    }
    print("sink_deliveries \(sink.deliveries.count) messages")
}

// MARK: Main

let options = Options(CommandLine.arguments)
switch options.mode {
case "e2e": await runEndToEnd(options)
default: await runOffline(options)
}
