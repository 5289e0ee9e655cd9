// Axis permutation (a strided copy).

/// Walks every element of an output of `outShape` whose element at multi-index `i` lives at
/// `Σ i_k strides_k` in the source; copies source → output, or accumulates output → source.
public func permute_apply(_ src: UnsafeMutablePointer<Scalar>, _ dst: UnsafeMutablePointer<Scalar>, _ outShape: [Int],
                   _ strides: [Int], accumulateIntoSource: Bool) {
    let rank = outShape.count
    let total = outShape.reduce(1, *)
    if total == 0 { return }
    if rank == 0 { if accumulateIntoSource { src[0] += dst[0] } else { dst[0] = src[0] }; return }
    let lastN = outShape[rank - 1], lastS = strides[rank - 1]
    var idx = [Int](repeating: 0, count: rank)
    var o = 0
    while o < total {
        var base = 0
        for k in 0..<(rank - 1) { base += idx[k] * strides[k] }
        if accumulateIntoSource {
            for j in 0..<lastN { src[base + j * lastS] += dst[o + j] }
        } else {
            for j in 0..<lastN { dst[o + j] = src[base + j * lastS] }
        }
        o += lastN
        var k = rank - 2
        while k >= 0 {
            idx[k] += 1
            if idx[k] < outShape[k] { break }
            idx[k] = 0
            k -= 1
        }
    }
}
