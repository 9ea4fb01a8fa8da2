// swift-tools-version:6.0
//
// Stadtbus — a municipal service bus for XÖV messages over RabbitMQ.
//
// Layering (lower layers never import higher ones):
//   C shims      CRabbitMQ, CLibXML (+ CXMLShim), CSQLite      — thin wrappers over Debian's C libraries
//   façades      StadtbusXML, StadtbusSignature, StadtbusAMQP, StadtbusStore
//                                                            — the only modules that touch C pointers
//   core         StadtbusCore (routing engine, no I/O), StadtbusConfig (YAML)
//   runtime      StadtbusService (wires engine, transport, adapters, HTTP, metrics)
//   adapters     adapters/<name>/ — one target per adapter
//   executable   stadtbus
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny")
]

let package = Package(
    name: "Stadtbus",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "stadtbus", targets: ["stadtbus"]),
        .library(name: "StadtbusCore", targets: ["StadtbusCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/jpsim/Yams.git", from: "5.0.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.70.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.20.0"),
    ],
    targets: [
        // MARK: C shims
        .target(
            name: "CRabbitMQ",
            linkerSettings: [.linkedLibrary("rabbitmq")]
        ),
        .systemLibrary(
            name: "CLibXML",
            pkgConfig: "xmlsec1-openssl",
            providers: [.apt(["libxml2-dev", "libxslt1-dev", "libxmlsec1-dev", "libssl-dev"])]
        ),
        .target(name: "CXMLShim", dependencies: ["CLibXML"]),
        .systemLibrary(name: "CSQLite", providers: [.apt(["libsqlite3-dev"])]),
        .target(name: "CCurl", linkerSettings: [.linkedLibrary("curl")]),

        // MARK: Concurrency primitives (a leaf: the standard library's Synchronization only)
        .target(
            name: "StadtbusConcurrency",
            swiftSettings: swiftSettings + [.swiftLanguageMode(.v6)]
        ),

        // MARK: Façades over C
        .target(
            name: "StadtbusXML",
            dependencies: ["CLibXML", "CXMLShim", "StadtbusConcurrency"],
            swiftSettings: swiftSettings + [
                .swiftLanguageMode(.v6), .enableUpcomingFeature("InternalImportsByDefault"),
            ]
        ),
        .target(
            name: "StadtbusSignature",
            dependencies: ["StadtbusXML", "CLibXML", "CXMLShim"],
            swiftSettings: swiftSettings + [
                .swiftLanguageMode(.v6), .enableUpcomingFeature("InternalImportsByDefault"),
            ]
        ),
        .target(
            name: "StadtbusAMQP",
            dependencies: ["CRabbitMQ", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "StadtbusStore",
            dependencies: ["CSQLite", "StadtbusCore"],
            swiftSettings: swiftSettings + [.swiftLanguageMode(.v6)]
        ),

        // MARK: Core
        .target(
            name: "StadtbusCore",
            dependencies: ["StadtbusXML", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings + [.swiftLanguageMode(.v6)]
        ),
        .target(
            name: "StadtbusConfig",
            dependencies: ["StadtbusCore", "StadtbusXML", "Yams"],
            swiftSettings: swiftSettings + [.swiftLanguageMode(.v6)]
        ),

        // MARK: Operations (HTTP endpoints, metrics, logs)
        .target(
            name: "StadtbusOperations",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings + [.swiftLanguageMode(.v6)]
        ),

        // MARK: Adapters (the protocol family, one target per adapter under adapters/, the standard set)
        .target(
            name: "StadtbusAdapterKit",
            dependencies: [
                "StadtbusCore", "StadtbusConfig", "StadtbusOperations", "StadtbusXML",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings + [.swiftLanguageMode(.v6)]
        ),
        // The AMQP side of adapters (queue consumer, failure publisher, broker connections),
        // kept apart so an adapter that does not use AMQP does not link rabbitmq-c.
        .target(
            name: "StadtbusBrokerKit",
            dependencies: [
                "StadtbusAdapterKit", "StadtbusAMQP", "StadtbusConfig", "StadtbusCore", "StadtbusOperations",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings + [.swiftLanguageMode(.v6)]
        ),
        .target(
            name: "AMQPAdapter",
            dependencies: [
                "StadtbusAdapterKit", "StadtbusBrokerKit", "StadtbusAMQP", "StadtbusConfig", "StadtbusCore",
                "StadtbusOperations",
            ],
            path: "adapters/amqp",
            swiftSettings: swiftSettings + [.swiftLanguageMode(.v6)]
        ),
        .target(
            name: "FileAdapter",
            dependencies: [
                "StadtbusAdapterKit", "StadtbusCore", "StadtbusOperations",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "adapters/file",
            swiftSettings: swiftSettings + [.swiftLanguageMode(.v6)]
        ),
        .target(
            name: "HTTPOutAdapter",
            dependencies: ["StadtbusAdapterKit", "StadtbusConcurrency", "StadtbusCore", "CCurl"],
            path: "adapters/http-out",
            swiftSettings: swiftSettings + [.swiftLanguageMode(.v6)]
        ),
        .target(
            name: "LogAdapter",
            dependencies: ["StadtbusAdapterKit", "StadtbusCore", .product(name: "Logging", package: "swift-log")],
            path: "adapters/log",
            swiftSettings: swiftSettings + [.swiftLanguageMode(.v6)]
        ),
        .target(
            name: "HTTPInAdapter",
            dependencies: [
                "StadtbusAdapterKit", "StadtbusBrokerKit", "StadtbusAMQP", "StadtbusConfig", "StadtbusCore",
                "StadtbusConcurrency", "StadtbusXML",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "adapters/http-in",
            exclude: ["README.md"],
            swiftSettings: swiftSettings + [.swiftLanguageMode(.v6)]
        ),
        .target(
            name: "ExecAdapter",
            dependencies: [
                "StadtbusAdapterKit", "StadtbusConcurrency", "StadtbusConfig", "StadtbusCore", "StadtbusXML",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "adapters/exec",
            exclude: ["README.md", "examples"],
            swiftSettings: swiftSettings + [.swiftLanguageMode(.v6)]
        ),
        .target(
            name: "StadtbusAdapters",
            dependencies: [
                "StadtbusAdapterKit", "AMQPAdapter", "ExecAdapter", "FileAdapter", "HTTPInAdapter", "HTTPOutAdapter",
                "LogAdapter",
            ],
            swiftSettings: swiftSettings + [.swiftLanguageMode(.v6)]
        ),

        // The loader of the standard build: the adapters above, mapping rules and XMLDSig
        // `sign`/`verify` steps; used by the executable, the benchmarks and the tests.
        .target(
            name: "StadtbusStandard",
            dependencies: ["StadtbusAdapters", "StadtbusConfig", "StadtbusCore", "StadtbusSignature", "StadtbusXML"],
            swiftSettings: swiftSettings + [
                .swiftLanguageMode(.v6), .enableUpcomingFeature("InternalImportsByDefault"),
            ]
        ),

        // MARK: Runtime (wires engine, transport, stores, operations, adapters)
        .target(
            name: "StadtbusRuntime",
            dependencies: [
                "StadtbusCore", "StadtbusConfig", "StadtbusAMQP", "StadtbusStore", "StadtbusOperations",
                "StadtbusAdapterKit", "StadtbusBrokerKit", "StadtbusConcurrency",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings + [.swiftLanguageMode(.v6)]
        ),

        // MARK: Executable
        .executableTarget(
            name: "stadtbus",
            dependencies: [
                "StadtbusCore", "StadtbusConfig", "StadtbusXML", "StadtbusSignature", "StadtbusAMQP", "StadtbusStore",
                "StadtbusOperations", "StadtbusRuntime", "StadtbusAdapterKit", "StadtbusAdapters", "StadtbusStandard",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings + [.swiftLanguageMode(.v6)]
        ),
        .executableTarget(
            name: "stadtbus-xml-bench",
            dependencies: ["StadtbusXML"],
            path: "Sources/Benchmarks/XMLBench",
            swiftSettings: swiftSettings + [.swiftLanguageMode(.v6)]
        ),
        .executableTarget(
            name: "stadtbus-store-bench",
            dependencies: ["StadtbusStore", "StadtbusCore"],
            path: "Sources/Benchmarks/StoreBench",
            swiftSettings: swiftSettings + [.swiftLanguageMode(.v6)]
        ),
        .executableTarget(
            name: "stadtbus-bench",
            dependencies: [
                "StadtbusCore", "StadtbusConfig", "StadtbusXML", "StadtbusSignature", "StadtbusAMQP",
                "StadtbusAdapters", "StadtbusStandard",
            ],
            path: "Sources/Benchmarks/RouteBench",
            swiftSettings: swiftSettings + [.swiftLanguageMode(.v6)]
        ),
        .executableTarget(
            name: "stadtbus-raw-relay",
            dependencies: ["CRabbitMQ"],
            path: "Sources/Benchmarks/RawRelay",
            swiftSettings: swiftSettings
        ),

        .executableTarget(
            name: "stadtbus-amqp-relay",
            dependencies: ["StadtbusAMQP", .product(name: "Logging", package: "swift-log")],
            path: "Sources/Tools/AMQPRelay",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "stadtbus-amqp-bench",
            dependencies: ["StadtbusAMQP", "CRabbitMQ"],
            path: "Sources/Tools/AMQPBench",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "stadtbus-sign-bench",
            dependencies: ["StadtbusSignature", "StadtbusXML"],
            path: "Sources/Tools/SignatureBench",
            swiftSettings: swiftSettings + [.swiftLanguageMode(.v6)]
        ),

        // MARK: Fuzzing (libFuzzer targets; real entry points only when built by scripts/fuzz)
        .executableTarget(
            name: "stadtbus-fuzz-xml",
            dependencies: ["StadtbusXML"],
            path: "Sources/Fuzz/XML",
            swiftSettings: swiftSettings + [.swiftLanguageMode(.v6)]
        ),
        .executableTarget(
            name: "stadtbus-fuzz-config",
            dependencies: ["StadtbusConfig", "StadtbusAdapters"],
            path: "Sources/Fuzz/Config",
            swiftSettings: swiftSettings + [.swiftLanguageMode(.v6)]
        ),

        // MARK: Tests
        .testTarget(
            name: "StadtbusConcurrencyTests", dependencies: ["StadtbusConcurrency"],
            swiftSettings: swiftSettings + [.swiftLanguageMode(.v6)]),
        .target(
            name: "StadtbusTestSupport", dependencies: ["StadtbusAMQP"], path: "Tests/StadtbusTestSupport",
            swiftSettings: swiftSettings + [.swiftLanguageMode(.v6)]
        ),
        .testTarget(
            name: "StadtbusXMLTests", dependencies: ["StadtbusXML"],
            swiftSettings: swiftSettings + [.swiftLanguageMode(.v6)]),
        .testTarget(
            name: "StadtbusSignatureTests", dependencies: ["StadtbusSignature", "StadtbusXML"],
            swiftSettings: swiftSettings + [.swiftLanguageMode(.v6)]),
        .testTarget(
            name: "StadtbusAMQPTests", dependencies: ["StadtbusAMQP", "StadtbusTestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "StadtbusStoreTests", dependencies: ["StadtbusStore", "StadtbusCore"], swiftSettings: swiftSettings),
        .testTarget(
            name: "StadtbusCoreTests", dependencies: ["StadtbusCore", "StadtbusXML"], swiftSettings: swiftSettings),
        .testTarget(
            name: "StadtbusAdapterKitTests",
            dependencies: [
                "StadtbusAdapterKit", "ExecAdapter", "FileAdapter", "StadtbusCore", "StadtbusOperations", "StadtbusXML",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings + [.swiftLanguageMode(.v6)]
        ),
        .testTarget(
            name: "StadtbusEndToEndTests",
            dependencies: ["StadtbusAMQP", "StadtbusTestSupport", "stadtbus"],
            swiftSettings: swiftSettings + [.swiftLanguageMode(.v6)]
        ),
        .testTarget(
            name: "StadtbusRuntimeTests",
            dependencies: [
                "StadtbusRuntime", "StadtbusAdapters", "StadtbusAdapterKit", "StadtbusBrokerKit", "StadtbusAMQP",
                "StadtbusConcurrency", "StadtbusConfig", "StadtbusCore", "StadtbusOperations", "StadtbusTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings + [.swiftLanguageMode(.v6)]
        ),
        .testTarget(
            name: "StadtbusReliabilityTests",
            dependencies: [
                "StadtbusAMQP", "StadtbusTestSupport", "StadtbusStore", "StadtbusCore", "StadtbusSignature",
                "StadtbusXML",
                "stadtbus",
            ],
            swiftSettings: swiftSettings + [.swiftLanguageMode(.v6)]
        ),
        .testTarget(
            name: "StadtbusHTTPTests",
            dependencies: [
                "HTTPOutAdapter", "StadtbusAdapterKit", "StadtbusCore", "StadtbusTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            exclude: ["tls_receiver.py"],
            swiftSettings: swiftSettings + [.swiftLanguageMode(.v6)]
        ),
        .testTarget(
            name: "StadtbusHTTPInTests",
            dependencies: [
                "HTTPInAdapter", "StadtbusAdapterKit", "StadtbusBrokerKit", "StadtbusTestSupport", "StadtbusAMQP",
                "StadtbusCore",
                "StadtbusOperations", "StadtbusXML",
            ],
            swiftSettings: swiftSettings + [.swiftLanguageMode(.v6)]
        ),
        .testTarget(
            name: "StadtbusOperationsTests",
            dependencies: ["StadtbusOperations", .product(name: "HummingbirdTesting", package: "hummingbird")],
            swiftSettings: swiftSettings + [.swiftLanguageMode(.v6)]
        ),
        .testTarget(
            name: "StadtbusExecTests",
            dependencies: [
                "ExecAdapter", "StadtbusAdapterKit", "StadtbusConfig", "StadtbusCore", "StadtbusXML",
                "StadtbusOperations",
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["Programs"],
            swiftSettings: swiftSettings + [.swiftLanguageMode(.v6)]
        ),
        .testTarget(
            name: "StadtbusConfigTests",
            dependencies: [
                "StadtbusConfig", "StadtbusCore", "StadtbusXML", "StadtbusAdapters", "StadtbusStandard", "Yams",
            ],
            exclude: ["Fixtures"],
            swiftSettings: swiftSettings + [.swiftLanguageMode(.v6)]
        ),
    ],
    swiftLanguageModes: [.v5]
)
