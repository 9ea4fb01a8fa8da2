// End to end: the real `stadtbus run` (release) on the main broker with a temporary configuration
// and unique queue names. The load generator uses the project's own AMQP façade (publish with
// confirms, consume with acks) and runs on the same machine: its CPU competes with the service's.
import Foundation
import StadtbusAMQP

#if canImport(Glibc)
    import Glibc
#endif

/// VmRSS of `pid` in kB (from /proc/PID/status).
func residentKilobytes(_ pid: Int32) -> Int {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return -1 }
    for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? -1
    }
    return -1
}

/// CPU seconds (user + system) of `pid` so far (from /proc/PID/stat).
func processCPUSeconds(_ pid: Int32) -> Double {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = text.lastIndex(of: ")")
    else { return -1 }
    let fields = text[text.index(after: close)...].split(separator: " ")
    // fields[0] is the state (field 3); utime is field 14, stime field 15.
    let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
    return ((Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)) / ticks
}

/// Status code of `GET path` on 127.0.0.1:port, or nil when nothing answers.
func httpStatus(port: Int, path: String) -> Int? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    guard connected == 0 else { return nil }
    let request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    _ = request.withCString { send(fd, $0, strlen($0), 0) }
    var buffer = [UInt8](repeating: 0, count: 512)
    let n = recv(fd, &buffer, buffer.count, 0)
    guard n > 12 else { return nil }
    let line = String(decoding: buffer[0..<n], as: UTF8.self)
    return line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    private var latencies: [Double] = []
    private var waiters: [(Int, CheckedContinuation<Void, Never>)] = []

    func add(latency: Double?) {
        lock.lock()
        value += 1
        if let latency { latencies.append(latency) }
        let ready = waiters.filter { $0.0 <= value }
        waiters.removeAll { $0.0 <= value }
        lock.unlock()
        for waiter in ready { waiter.1.resume() }
    }

    var count: Int { lock.withLock { value } }

    func takeLatencies() -> [Double] {
        lock.withLock {
            defer { latencies = [] }
            return latencies
        }
    }

    /// Returns once `target` messages were counted.
    func wait(for target: Int) async {
        await withCheckedContinuation { continuation in
            lock.lock()
            if value >= target {
                lock.unlock()
                continuation.resume()
            } else {
                waiters.append((target, continuation))
                lock.unlock()
            }
        }
    }
}

func realTime() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// Publishes `count` messages with confirms, at most `window` in flight.
func publish(
    _ publisher: AMQPPublisher, queue: String, template: MessageTemplate, range: Range<Int>, prefix: UInt32,
    window: Int = 256
) async {
    await withTaskGroup(of: Void.self) { group in
        var inFlight = 0
        for n in range {
            if inFlight >= window {
                await group.next()
                inFlight -= 1
            }
            let body = template.message(n, prefix: prefix)
            group.addTask {
                do {
                    try await publisher.publish(AMQPOutgoingMessage(body: body), exchange: "", routingKey: queue)
                } catch { fail("publish: \(error)") }
            }
            inFlight += 1
        }
    }
}

func runEndToEnd(_ options: Options) async {
    // The full route works on the 15 KB XBeteiligung 0402; the raw relay, the passthrough route, latency and
    // memory on the 10 KB xdomea 0501 (issue 8: "10 KB XÖV messages").
    let template = MessageTemplate(
        path: "\(options.shared)/xoev/xbeteiligung-1.2/examples/kommunal.Aktualisieren.0402.xml")
    let small = MessageTemplate(
        path: "\(options.shared)/xoev/xdomea-3.0.0/examples/Aussonderung.Anbieteverzeichnis.0501.xml")
    let stadtbus = URL(fileURLWithPath: options.stadtbus).standardizedFileURL.path
    guard FileManager.default.isExecutableFile(atPath: stadtbus) else { fail("no stadtbus executable at \(stadtbus)") }
    let runID = "\(getpid())-\(UInt32.random(in: 0...0xffff))"
    print("e2e_run bench-\(runID) queues")
    figure("e2e_passthrough_message_bytes", Double(small.bytes.count), "bytes")
    figure("e2e_full_message_bytes", Double(template.bytes.count), "bytes")

    var ceiling: RawCeiling?
    if options.wants("passthrough") {
        let relay =
            options.rawRelay
            ?? (URL(fileURLWithPath: stadtbus).deletingLastPathComponent().path + "/stadtbus-raw-relay")
        do {
            let endpoint = AMQPEndpoint(
                host: "127.0.0.1", port: options.port, username: "guest", password: .literal("guest"),
                connectionName: "stadtbus-bench-raw")
            let connection = try await AMQPConnection.connect(endpoint)
            ceiling = await measureRawCeiling(
                options: options, relay: relay, connection: connection, publisher: connection.publisher(),
                template: small,
                runID: runID, count: min(10_000, options.passthroughCount))
            await connection.close()
        } catch { fail("raw relay: \(error)") }
    }

    for workers in options.workers {
        let prefix = "bench-\(runID)-w\(workers)"
        let queues = [
            "in.passthrough": "\(prefix).in.passthrough", "out.passthrough": "\(prefix).out.passthrough",
            "in.full-ec": "\(prefix).in.full-ec", "in.full-rsa": "\(prefix).in.full-rsa",
            "out.full": "\(prefix).out.full",
            "dlq": "\(prefix).dlq",
        ]
        let endpoints = queues.sorted { $0.key < $1.key }.map { "  \($0.key): { type: amqp, queue: \($0.value) }" }
            .joined(separator: "\n")
        let httpPort = 20_000 + Int(getpid() % 5_000) + workers
        var fixture: Fixture!
        let directoryHolder = Box<String>("")
        fixture = makeFixture(
            options: options, endpoints: endpoints,
            extraTop: """
                broker: { host: 127.0.0.1, port: \(options.port), vhost: /, user: guest, password-env: STADTBUS_BENCH_BROKER_PASSWORD }
                http: { bind: 127.0.0.1, port: \(httpPort) }
                max-in-flight: \(workers)
                logging: { level: warning }
                stores: { idempotency: \(options.storeFiles.idempotency), audit: \(options.storeFiles.audit) }
                defaults:
                  on-error: { retry: none, dead-letter: dlq }
                """)
        directoryHolder.value = fixture.directory

        // The queues are declared here too (same arguments as the runtime: quorum): `/ready` turns 200
        // once the broker connection is up, which can be before the service has declared its topology.
        let connection: AMQPConnection
        let publisher: AMQPPublisher
        let passthroughOut = Counter()
        let fullOut = Counter()
        do {
            let endpoint = AMQPEndpoint(
                host: "127.0.0.1", port: options.port, username: "guest", password: .literal("guest"),
                connectionName: "stadtbus-bench")
            connection = try await AMQPConnection.connect(endpoint)
            try await connection.declare(AMQPTopology(queues: queues.values.sorted().map { AMQPQueue($0) }))
            publisher = connection.publisher()
            for (queue, counter) in [(queues["out.passthrough"]!, passthroughOut), (queues["out.full"]!, fullOut)] {
                let consumer = try await connection.consume(queue: queue, prefetch: 500)
                Task {
                    for await delivery in consumer.deliveries {
                        var latency: Double?
                        // Stadtbus forwards transport headers as strings.
                        switch delivery.headers["x-bench-t0"] {
                        case .double(let t0)?: latency = realTime() - t0
                        case .string(let t0)?: latency = Double(t0).map { realTime() - $0 }
                        default: break
                        }
                        try? await delivery.ack()
                        counter.add(latency: latency)
                    }
                }
            }
            let dlq = try await connection.consume(queue: queues["dlq"]!, prefetch: 100)
            Task {
                for await delivery in dlq.deliveries {
                    FileHandle.standardError.write(Data("dead-lettered: \(delivery.headers)\n".utf8))
                    try? await delivery.ack()
                }
            }
            // A probe waiting in the input queue before the service starts: time to the first message served.
            try await publisher.publish(
                AMQPOutgoingMessage(body: small.message(90_000_000, prefix: 0x9b0b_e000)), exchange: "",
                routingKey: queues["in.passthrough"]!)
        } catch { fail("e2e set-up: \(error)") }

        // Start the service and time /ready.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: stadtbus)
        process.arguments = ["run", "--config", fixture.configPath]
        var environment = ProcessInfo.processInfo.environment
        environment["STADTBUS_BENCH_BROKER_PASSWORD"] = "guest"
        process.environment = environment
        let log = FileHandle(forWritingAtPath: "/dev/null")
        let logPath = "\(fixture.directory)/stadtbus.log"
        FileManager.default.createFile(atPath: logPath, contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: logPath) ?? log
        process.standardError = FileHandle(forWritingAtPath: logPath) ?? log
        let start = wallClock()
        do { try process.run() } catch { fail("cannot start \(stadtbus): \(error)") }
        let pid = process.processIdentifier
        var ready = false
        while wallClock() - start < 60 {
            if !process.isRunning { break }
            if httpStatus(port: httpPort, path: "/ready") == 200 {
                ready = true
                break
            }
            usleep(5_000)
        }
        guard ready else {
            let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            if process.isRunning { process.terminate() }
            fail("stadtbus did not become ready (log \(logPath)):\n\(text.suffix(2000))")
        }
        let w = "w\(workers)"
        figure("e2e_\(w)_start_to_ready", (wallClock() - start) * 1000, "ms")
        await passthroughOut.wait(for: 1)
        figure("e2e_\(w)_start_to_first_message", (wallClock() - start) * 1000, "ms")
        figure("e2e_\(w)_rss_ready", Double(residentKilobytes(pid)) / 1024, "MiB", decimals: 1)

        do {
            // Throughput: passthrough.
            @discardableResult
            func throughput(
                _ name: String, queue: String, counter: Counter, count: Int, prefix: UInt32, template: MessageTemplate
            ) async -> Double {
                let target = counter.count + count
                let cpu0 = processCPUSeconds(pid)
                let t0 = wallClock()
                let base = counter.count
                await publish(publisher, queue: queue, template: template, range: base..<(base + count), prefix: prefix)
                let published = wallClock() - t0
                await counter.wait(for: target)
                let elapsed = wallClock() - t0
                let cpu = processCPUSeconds(pid) - cpu0
                figure("e2e_\(w)_\(name)_rate", Double(count) / elapsed, "msg/s")
                figure("e2e_\(w)_\(name)_publish_rate", Double(count) / published, "msg/s")
                figure("e2e_\(w)_\(name)_stadtbus_cpu_us", cpu / Double(count) * 1e6, "us/msg", decimals: 1)
                return Double(count) / elapsed
            }
            if options.wants("passthrough") {
                let first = min(10_000, options.passthroughCount)
                let rate = await throughput(
                    "passthrough", queue: queues["in.passthrough"]!, counter: passthroughOut, count: first,
                    prefix: 0xe2e0_0000, template: small)
                if let ceiling {
                    figure("e2e_\(w)_passthrough_vs_raw", rate / ceiling.rate * 100, "percent")
                }
                figure(
                    "e2e_\(w)_rss_after_\(passthroughOut.count)", Double(residentKilobytes(pid)) / 1024, "MiB",
                    decimals: 1)
                if options.passthroughCount > first {
                    await throughput(
                        "passthrough_more", queue: queues["in.passthrough"]!, counter: passthroughOut,
                        count: options.passthroughCount - first, prefix: 0xe2e0_0000, template: small)
                    figure(
                        "e2e_\(w)_rss_after_\(passthroughOut.count)", Double(residentKilobytes(pid)) / 1024, "MiB",
                        decimals: 1)
                }
            }
            if options.wants("ec") {
                await throughput(
                    "full_ecdsa", queue: queues["in.full-ec"]!, counter: fullOut, count: options.fullCount,
                    prefix: 0xe2ec_0000,
                    template: template)
                figure("e2e_\(w)_rss_after_full", Double(residentKilobytes(pid)) / 1024, "MiB", decimals: 1)
            }

            // Latency at a fixed offered load (passthrough), only for the last worker setting.
            if options.wants("latency"), workers == options.workers.last {
                _ = passthroughOut.takeLatencies()
                let total = Int(Double(options.rate) * options.rateSeconds)
                let target = passthroughOut.count + total
                let base = 50_000_000
                let t0 = wallClock()
                await withTaskGroup(of: Void.self) { group in
                    for i in 0..<total {
                        let due = t0 + Double(i) / Double(options.rate)
                        let wait = due - wallClock()
                        if wait > 0 { usleep(useconds_t(wait * 1e6)) }
                        var message = AMQPOutgoingMessage(body: small.message(base + i, prefix: 0x1a7e_0000))
                        message.headers["x-bench-t0"] = .string(String(format: "%.6f", realTime()))
                        let queue = queues["in.passthrough"]!
                        group.addTask {
                            do { try await publisher.publish(message, exchange: "", routingKey: queue) } catch {
                                fail("publish: \(error)")
                            }
                        }
                    }
                }
                figure("e2e_\(w)_latency_offered_rate", Double(total) / (wallClock() - t0), "msg/s")
                await passthroughOut.wait(for: target)
                let sorted = passthroughOut.takeLatencies().sorted()
                if !sorted.isEmpty {
                    figure("e2e_\(w)_latency_samples", Double(sorted.count), "messages")
                    figure("e2e_\(w)_latency_p50", sorted[sorted.count / 2] * 1000, "ms", decimals: 2)
                    figure(
                        "e2e_\(w)_latency_p99", sorted[min(sorted.count - 1, sorted.count * 99 / 100)] * 1000, "ms",
                        decimals: 2)
                    figure("e2e_\(w)_latency_max", sorted.last! * 1000, "ms", decimals: 2)
                }
            }

            // Memory after a larger passthrough count (last worker setting only).
            if options.wants("memory"), workers == options.workers.last, options.memoryCount > passthroughOut.count {
                let more = options.memoryCount - passthroughOut.count
                await throughput(
                    "passthrough_memory", queue: queues["in.passthrough"]!, counter: passthroughOut, count: more,
                    prefix: 0x3e30_0000,
                    template: small)
                figure(
                    "e2e_\(w)_rss_after_\(passthroughOut.count)", Double(residentKilobytes(pid)) / 1024, "MiB",
                    decimals: 1)
            }
            await connection.close()
        }
        process.terminate()
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: directoryHolder.value)
    }
}
