// swift-tools-version:6.0
import PackageDescription

/// Settings shared by every Swift target: Swift 6 mode is the tools default; these add the
/// checks Hummingbird enables (see ../shared/STYLE.md).
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "kafka-loki-bridge",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "kafka-loki-bridge", targets: ["kafka-loki-bridge"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        // C libraries, leaves of the graph.
        .systemLibrary(
            name: "CRdKafka", pkgConfig: "rdkafka", providers: [.apt(["librdkafka-dev"])]),
        // rd_kafka_producev is variadic: a small C shim makes it callable from Swift.
        .target(name: "CRdKafkaShims", dependencies: ["CRdKafka"]),
        .systemLibrary(name: "CSnappy", providers: [.apt(["libsnappy-dev"])]),
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CLibdeflate", providers: [.apt(["libdeflate-dev"])]),
        // libcurl's setopt/getinfo are variadic, so Swift needs typed C shims: a C target, not a
        // system library.
        .target(name: "CCurl", linkerSettings: [.linkedLibrary("curl")]),
        // protobuf-c code generated from proto/push.proto by scripts/generate-proto.sh.
        .target(name: "CLokiProto", linkerSettings: [.linkedLibrary("protobuf-c")]),

        // Pure Swift: records, decoders, batcher, offset tracker, retry policy. No I/O, no C
        // libraries (the JSON string scan uses clang's SSE2 intrinsics, header-only, and the
        // one SSSE3 function below where the CPU has it).
        .target(name: "BridgeCore", dependencies: ["CJSONBlockShuffle"], swiftSettings: swiftSettings),
        // The JSON string scan's SSSE3 block shuffle, in C for clang's target("ssse3") (its
        // source says why); x86-64 only, chosen at run time by CPUID.
        .target(name: "CJSONBlockShuffle"),
        // Block codecs (snappy, gzip) behind BridgeCore's protocols.
        .target(
            name: "BridgeCodecs", dependencies: ["BridgeCore", "CSnappy", "CZlib", "CLibdeflate"],
            swiftSettings: swiftSettings),
        .target(
            name: "KafkaInput",
            dependencies: [
                "BridgeCore", "CRdKafka", "CRdKafkaShims",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings),
        .target(
            name: "LokiOutput",
            dependencies: [
                "BridgeCore", "BridgeCodecs", "CCurl", "CLokiProto",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings),
        .target(
            name: "BridgeRuntime",
            dependencies: [
                "BridgeCore", "BridgeCodecs", "KafkaInput", "LokiOutput",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "kafka-loki-bridge",
            dependencies: [
                "BridgeRuntime",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),

        // `make bench`'s tools: record generator, counting Loki stand-in, ceilings, micro-benchmarks.
        .executableTarget(
            name: "kafka-loki-bench",
            dependencies: [
                "BridgeCore", "BridgeCodecs", "KafkaInput", "CRdKafka",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings),

        .testTarget(name: "BridgeCoreTests", dependencies: ["BridgeCore", "CJSONBlockShuffle"], swiftSettings: swiftSettings),
        .testTarget(
            name: "LokiOutputTests", dependencies: ["LokiOutput", "BridgeCodecs", "BridgeCore", "CLokiProto"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "BridgeRuntimeTests",
            dependencies: [
                "BridgeRuntime", "BridgeCore", "BridgeCodecs", "KafkaInput",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "KafkaLokiBridgeCLITests",
            dependencies: [
                "kafka-loki-bridge",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings),
    ]
)
