// swift-tools-version:6.0
import PackageDescription

/// conceptd: learn static and dynamic visual concepts from live video.
///
/// Layers (each a target; a layer never imports one above it):
///   1. C wrappers   CBLAS, CFFmpeg, CSystemd
///   2. Tensor       storage, kernels, autograd, safetensors, SGD
///   3. ConceptModel R(2+1)D, concept heads, losses, Sinkhorn, training step
///   4. Media        libav inputs, decode, scale, clips and views
///   5. Learner      replay buffer, training loop, snapshots, probe evaluation, live concept statistics
///   6. Service      configuration, HTTP API + metrics + dashboard, systemd notify/watchdog, journal logging
///   7. Executables  conceptd, conceptctl, concept-bench
let package = Package(
    name: "conceptd",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "conceptd", targets: ["conceptd"]),
        .executable(name: "concept-bench", targets: ["concept-bench"]),
        .executable(name: "conceptctl", targets: ["conceptctl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.0"),
    ],
    targets: [
        // Layer 1: C libraries found through pkg-config.
        .systemLibrary(
            name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(
            name: "CFFmpeg", path: "Sources/CFFmpeg", pkgConfig: "libavformat",
            providers: [.apt(["libavformat-dev", "libavcodec-dev", "libavutil-dev", "libswscale-dev", "libavdevice-dev"])]),
        .systemLibrary(
            name: "CSystemd", path: "Sources/CSystemd", pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"])]),

        // Layer 2: tensors and autograd.
        .target(name: "Tensor", dependencies: ["CBLAS"],
                swiftSettings: [.unsafeFlags(["-Ounchecked", "-wmo"])]),
        // Layer 3: the concept learner.
        .target(name: "ConceptModel", dependencies: ["Tensor"],
                swiftSettings: [.unsafeFlags(["-Ounchecked", "-wmo"])]),
        // Layer 4: media ingest.
        .target(name: "Media", dependencies: [
            "CFFmpeg",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Layer 5: replay buffer, training loop, snapshots.
        .target(name: "Learner", dependencies: ["ConceptModel", "Tensor", "Media", "CBLAS"],
                swiftSettings: [.unsafeFlags(["-Ounchecked", "-wmo"])]),
        // Layer 6: the daemon's service layer: configuration, HTTP API, metrics, dashboard, systemd, logging.
        .target(name: "Service", dependencies: [
            "ConceptModel", "Learner", "Media", "CSystemd",
            .product(name: "TOMLKit", package: "TOMLKit"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ], resources: [
            // The dashboard, compiled into the binary (no files to install, no CDN).
            .embedInCode("API/Dashboard/index.html"),
            .embedInCode("API/Dashboard/dashboard.js"),
            .embedInCode("API/Dashboard/dashboard.css"),
        ]),

        // Executables.
        .executableTarget(name: "conceptd", dependencies: [
            "Tensor", "ConceptModel", "Media", "Service",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "conceptctl", dependencies: [
            "Media", "Learner", "Service",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "concept-bench", dependencies: [
            "Tensor", "ConceptModel", "Media", "Learner", "Service",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // Tests.
        .testTarget(name: "SystemLibraryTests", dependencies: ["CBLAS", "CFFmpeg", "CSystemd"]),
        .testTarget(name: "TensorTests", dependencies: ["Tensor"], resources: [.copy("fixtures")]),
        .testTarget(name: "ConceptModelTests", dependencies: ["ConceptModel", "Tensor"],
                    resources: [.copy("reference"), .copy("options"), .copy("fixtures")]),
        .testTarget(name: "LearnerTests", dependencies: ["Learner", "ConceptModel", "Tensor", "Media"]),
        .testTarget(name: "MediaTests", dependencies: ["Media"]),
        .testTarget(name: "ServiceTests", dependencies: ["Service"]),
    ],
    swiftLanguageModes: [.v6]
)
