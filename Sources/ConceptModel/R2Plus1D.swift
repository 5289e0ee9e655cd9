import Autograd
import SeededRandom
import TensorKernels

/// torchvision's `Conv2Plus1D`: a (1,3,3) spatial conv to `mid` channels, BN, ReLU, then a (3,1,1) temporal conv.
/// Names `0` (spatial), `1` (BN), `3` (temporal), as in `nn.Sequential`.
public final class Conv2Plus1D: NamedState {
    let spatial: Conv3dLayer
    let bn: BatchNormLayer
    let temporal: Conv3dLayer

    /// Conv2Plus1D(in, out, mid, stride) of the spec.
    public init(inChannels: Int, outChannels: Int, mid: Int, stride: Int, bnMomentum: Scalar, bnEps: Scalar, rng: inout SeededGenerator) {
        spatial = Conv3dLayer(inChannels: inChannels, outChannels: mid, kernel: (1, 3, 3), stride: (1, stride, stride),
                              padding: (0, 1, 1), rng: &rng)
        bn = BatchNormLayer(channels: mid, momentum: bnMomentum, eps: bnEps)
        temporal = Conv3dLayer(inChannels: mid, outChannels: outChannels, kernel: (3, 1, 1), stride: (stride, 1, 1),
                               padding: (1, 0, 0), rng: &rng)
    }

    func callAsFunction(_ x: Tensor, training: Bool) throws -> Tensor {
        try temporal(bn.relu(spatial(x), training: training))
    }
    public func namedParameters() -> [(String, Tensor)] {
        [("0.weight", spatial.weight), ("1.weight", bn.weight), ("1.bias", bn.bias), ("3.weight", temporal.weight)]
    }
    public func namedBatchNorms() -> [(String, BatchNormLayer)] { [("1", bn)] }
}

/// A residual block: `relu(bn(conv2(relu(bn(conv1(x))))) + shortcut(x))` with
/// `mid = (in·out·27) / (in·9 + 3·out)` and a 1x1x1 conv + BN shortcut when the stride or width changes.
public final class R2Plus1DBlock: NamedState {
    let conv1: Conv2Plus1D, bn1: BatchNormLayer
    let conv2: Conv2Plus1D, bn2: BatchNormLayer
    let downsample: (Conv3dLayer, BatchNormLayer)?

    /// A block from `inChannels` to `outChannels` with the given stride.
    public init(inChannels: Int, outChannels: Int, stride: Int, bnMomentum: Scalar, bnEps: Scalar, rng: inout SeededGenerator) {
        let mid = (inChannels * outChannels * 27) / (inChannels * 9 + 3 * outChannels)
        conv1 = Conv2Plus1D(inChannels: inChannels, outChannels: outChannels, mid: mid, stride: stride, bnMomentum: bnMomentum, bnEps: bnEps, rng: &rng)
        bn1 = BatchNormLayer(channels: outChannels, momentum: bnMomentum, eps: bnEps)
        conv2 = Conv2Plus1D(inChannels: outChannels, outChannels: outChannels, mid: mid, stride: 1, bnMomentum: bnMomentum, bnEps: bnEps, rng: &rng)
        bn2 = BatchNormLayer(channels: outChannels, momentum: bnMomentum, eps: bnEps)
        if stride != 1 || inChannels != outChannels {
            downsample = (Conv3dLayer(inChannels: inChannels, outChannels: outChannels, kernel: (1, 1, 1),
                                      stride: (stride, stride, stride), rng: &rng),
                          BatchNormLayer(channels: outChannels, momentum: bnMomentum, eps: bnEps))
        } else {
            downsample = nil
        }
    }

    func callAsFunction(_ x: Tensor, training: Bool) throws -> Tensor {
        let h = try bn1.relu(conv1(x, training: training), training: training)
        let y = try conv2(h, training: training)
        let shortcut = try downsample.map { try $0.1($0.0(x), training: training) } ?? x
        return try bn2.relu(y, adding: shortcut, training: training)
    }

    public func namedParameters() -> [(String, Tensor)] {
        var p = prefixed("conv1.0", conv1.namedParameters())
        p += [("conv1.1.weight", bn1.weight), ("conv1.1.bias", bn1.bias)]
        p += prefixed("conv2.0", conv2.namedParameters())
        p += [("conv2.1.weight", bn2.weight), ("conv2.1.bias", bn2.bias)]
        if let (conv, bn) = downsample {
            p += [("downsample.0.weight", conv.weight), ("downsample.1.weight", bn.weight), ("downsample.1.bias", bn.bias)]
        }
        return p
    }
    public func namedBatchNorms() -> [(String, BatchNormLayer)] {
        var b = prefixed("conv1.0", conv1.namedBatchNorms()) + [("conv1.1", bn1)]
        b += prefixed("conv2.0", conv2.namedBatchNorms()) + [("conv2.1", bn2)]
        if let (_, bn) = downsample { b.append(("downsample.1", bn)) }
        return b
    }
}

/// The R(2+1)D video encoder (torchvision's `r2plus1d_18` layout and names, without the classifier), with
/// `widths`, `stem` and `blocks` as knobs. Input `N x 3 x T x H x W`; output the layer4 map `N x C x T' x H' x W'`.
public final class R2Plus1DEncoder: NamedState {
    let stemSpatial: Conv3dLayer, stemBN1: BatchNormLayer
    let stemTemporal: Conv3dLayer, stemBN2: BatchNormLayer
    let layers: [[R2Plus1DBlock]]

    /// An encoder for `config`'s backbone knobs.
    public init(config: ModelConfig, rng: inout SeededGenerator) {
        let m = config.bnMomentum, e = config.bnEps
        stemSpatial = Conv3dLayer(inChannels: 3, outChannels: config.stem, kernel: (1, 7, 7), stride: (1, 2, 2), padding: (0, 3, 3), rng: &rng)
        stemBN1 = BatchNormLayer(channels: config.stem, momentum: m, eps: e)
        stemTemporal = Conv3dLayer(inChannels: config.stem, outChannels: config.widths[0], kernel: (3, 1, 1), padding: (1, 0, 0), rng: &rng)
        stemBN2 = BatchNormLayer(channels: config.widths[0], momentum: m, eps: e)
        var layers: [[R2Plus1DBlock]] = []
        var inC = config.widths[0]
        for stage in 0..<4 {
            var blocks: [R2Plus1DBlock] = []
            for b in 0..<config.blocks[stage] {
                let stride = (stage > 0 && b == 0) ? 2 : 1
                blocks.append(R2Plus1DBlock(inChannels: inC, outChannels: config.widths[stage], stride: stride, bnMomentum: m, bnEps: e, rng: &rng))
                inC = config.widths[stage]
            }
            layers.append(blocks)
        }
        self.layers = layers
    }

    /// The layer4 feature map.
    public func callAsFunction(_ x: Tensor, training: Bool) throws -> Tensor {
        var h = try stemBN1.relu(stemSpatial(x), training: training)
        h = try stemBN2.relu(stemTemporal(h), training: training)
        for stage in layers { for block in stage { h = try block(h, training: training) } }
        return h
    }

    public func namedParameters() -> [(String, Tensor)] {
        var p: [(String, Tensor)] = [("stem.0.weight", stemSpatial.weight), ("stem.1.weight", stemBN1.weight), ("stem.1.bias", stemBN1.bias),
                                     ("stem.3.weight", stemTemporal.weight), ("stem.4.weight", stemBN2.weight), ("stem.4.bias", stemBN2.bias)]
        for (s, stage) in layers.enumerated() {
            for (b, block) in stage.enumerated() { p += prefixed("layer\(s + 1).\(b)", block.namedParameters()) }
        }
        return p
    }
    public func namedBatchNorms() -> [(String, BatchNormLayer)] {
        var r: [(String, BatchNormLayer)] = [("stem.1", stemBN1), ("stem.4", stemBN2)]
        for (s, stage) in layers.enumerated() {
            for (b, block) in stage.enumerated() { r += prefixed("layer\(s + 1).\(b)", block.namedBatchNorms()) }
        }
        return r
    }
}
