#if CONCEPT_FLOAT64
/// The element type: Double in the float64 verification build (`-DCONCEPT_FLOAT64`), which reruns the parity
/// cases at the reference's precision.
public typealias Scalar = Double
#else
/// The element type: Float32 (the product). Build with `-DCONCEPT_FLOAT64` for the float64 verification build.
public typealias Scalar = Float
#endif
