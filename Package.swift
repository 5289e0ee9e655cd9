// swift-tools-version:6.0
import PackageDescription

/// conceptd: learn static and dynamic visual concepts from live video.
///
/// Layers (each a target; a layer never imports one above it):
///   1. C wrappers    CBLAS, CFFmpeg, CSystemd, CCrypto (libcrypto SHA-256), CMPI (Open MPI)
///   2. TensorKernels raw *_forward/*_backward loops, conv3d, GEMM, the parallel-for (the only unchecked code)
///      SafeTensors   the safetensors file format (no tensors); DurableFiles: write all, fsync, rename, fsync dir
///      SeededRandom  the seeded generators (learner; ingest and scenes)
///      Collective    the data-parallel world (Communicator, SingleProcess); OpenMPI: its Open MPI implementation
///      Autograd      Tensor storage, ops with autograd, parameters, SGD
///   3. ConceptModel R(2+1)D, concept heads, losses, Sinkhorn, training step
///   4. LibAV        owning wrappers of libav objects, decode and encode, MediaError, PNG
///      Media        ingest: sources, reconnects, clips and views, ledgers
///      SyntheticVideo  the labelled scene generator and video writer (tools and tests, not the daemon)
///      SyntheticVideoCLI  the generated-video command-line options (conceptctl, concept-bench)
///   5. Learner      replay buffer, training loop, snapshots, probe evaluation, live concept statistics
///   6. SystemdSupport  notify, watchdog, journal and text log handlers
///      ConceptAPI   the API's JSON models and client (over ConceptReports, the shared report values)
///      Service      the daemon runtime, configuration, HTTP API + metrics + dashboard
///   7. Executables  conceptd, conceptctl, concept-bench
let package = Package(
    name: "conceptd",
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
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.4.0"),
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
            name: "CCrypto", path: "Sources/CCrypto", pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]),
        .systemLibrary(
            name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c",
            providers: [.apt(["libopenmpi-dev"])]),
        .systemLibrary(
            name: "CSystemd", path: "Sources/CSystemd", pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"])]),

        // Layer 2: kernels (unchecked in release builds only), the safetensors format, tensors with autograd.
        .target(name: "TensorKernels", dependencies: ["CBLAS"],
                swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]),
        .target(name: "DurableFiles", dependencies: [.product(name: "SystemPackage", package: "swift-system")]),
        .target(name: "SafeTensors", dependencies: ["DurableFiles"]),
        .target(name: "SeededRandom"),
        // The data-parallel world: the Communicator protocol and the single-process world (no dependencies), and
        // Open MPI's world behind it.
        .target(name: "Collective"),
        .target(name: "OpenMPI", dependencies: ["CMPI", "Collective"]),
        // The report values the learner, the daemon and the API share (probe results, concept usage, source
        // concepts and counters, loss terms): plain Codable types, no dependencies.
        .target(name: "ConceptReports"),
        .target(name: "Autograd", dependencies: ["TensorKernels", "SeededRandom"]),
        // Layer 3: the concept learner.
        .target(name: "ConceptModel", dependencies: ["Autograd", "TensorKernels", "SafeTensors", "SeededRandom", "Collective"]),
        // Layer 4: libav wrappers, media ingest, generated video.
        .target(name: "LibAV", dependencies: [
            "CFFmpeg",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "Media", dependencies: [
            "LibAV", "SeededRandom", "DurableFiles", "ConceptReports", "CFFmpeg",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "SyntheticVideo", dependencies: ["LibAV", "SeededRandom", "CFFmpeg"]),
        // The generated-video command-line options that conceptctl and concept-bench share.
        .target(name: "SyntheticVideoCLI", dependencies: [
            "SyntheticVideo", "LibAV", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Layer 5: replay buffer, training loop, snapshots.
        .target(name: "Learner", dependencies: [
            "ConceptModel", "Autograd", "TensorKernels", "SafeTensors", "SeededRandom", "DurableFiles", "ConceptReports",
            "LibAV", "Media", "CBLAS", "CCrypto", "Collective",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Layer 6: systemd's notify and watchdog protocols and the journal and text log handlers; the daemon's
        // service layer: configuration, HTTP API, metrics, dashboard.
        .target(name: "SystemdSupport", dependencies: [
            "CSystemd", "DurableFiles",
            .product(name: "SystemPackage", package: "swift-system"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The API's JSON models and its client (Foundation only: conceptctl links nothing of the daemon).
        .target(name: "ConceptAPI", dependencies: ["ConceptReports"]),
        .target(name: "Service", dependencies: [
            "ConceptModel", "Autograd", "TensorKernels", "Learner", "LibAV", "Media", "SystemdSupport", "ConceptAPI",
            "ConceptReports", "Collective", "OpenMPI",
            .product(name: "TOMLKit", package: "TOMLKit"),
            .product(name: "NIOCore", package: "swift-nio"),
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
            "Service", "TensorKernels",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "conceptctl", dependencies: [
            "LibAV", "Media", "SyntheticVideo", "SyntheticVideoCLI", "SeededRandom", "ConceptAPI", "ConceptReports",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "concept-bench", dependencies: [
            "CBLAS", "TensorKernels", "SeededRandom", "Autograd", "SafeTensors", "ConceptModel", "LibAV", "Media",
            "SyntheticVideo", "SyntheticVideoCLI", "ConceptReports", "Learner", "Service", "Collective", "OpenMPI",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // Tests, and the helpers they share (temporary directories, a process runner, ports, relative error, test
        // data from the seeded generator); the real daemon with test seams injected, for the process tests.
        .executableTarget(name: "conceptd-testhost", dependencies: ["Service"], path: "Tests/ConceptdTestHost"),
        // Two-rank checks under mpirun, for the CollectiveTests.
        .executableTarget(name: "collective-testhost", dependencies: [
            "Autograd", "Collective", "ConceptModel", "Learner", "OpenMPI", "SeededRandom", "TensorKernels",
        ], path: "Tests/CollectiveTestHost"),
        .target(name: "ConceptTestSupport", dependencies: ["SeededRandom"], path: "Tests/ConceptTestSupport"),
        .testTarget(name: "SystemLibraryTests", dependencies: ["CBLAS", "CFFmpeg", "CSystemd", "CCrypto", "CMPI"]),
        .testTarget(name: "AutogradTests", dependencies: [
            "Autograd", "TensorKernels", "SafeTensors", "SeededRandom", "ConceptTestSupport",
        ], resources: [.copy("fixtures")]),
        .testTarget(name: "CollectiveTests", dependencies: ["Collective", "ConceptModel", "SeededRandom", "TensorKernels", "ConceptTestSupport"]),
        .testTarget(name: "SafeTensorsTests", dependencies: ["SafeTensors", "SeededRandom", "ConceptTestSupport"]),
        .testTarget(name: "ConceptModelTests", dependencies: [
            "ConceptModel", "Autograd", "TensorKernels", "SafeTensors", "SeededRandom", "ConceptTestSupport",
        ], resources: [.copy("reference"), .copy("options"), .copy("fixtures")]),
        .testTarget(name: "LearnerTests", dependencies: [
            "Learner", "ConceptModel", "Autograd", "TensorKernels", "SeededRandom", "LibAV", "Media", "SyntheticVideo",
            "ConceptReports", "ConceptTestSupport",
        ]),
        .testTarget(name: "MediaTests", dependencies: [
            "LibAV", "Media", "SyntheticVideo", "SyntheticVideoCLI", "SeededRandom", "DurableFiles", "ConceptReports", "CFFmpeg",
            "ConceptTestSupport",
        ]),
        .testTarget(name: "ServiceTests", dependencies: [
            "Service", "SystemdSupport", "ConceptAPI", "ConceptReports", "ConceptModel", "LibAV", "Media", "TensorKernels",
            "ConceptTestSupport",
            .product(name: "Logging", package: "swift-log"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
