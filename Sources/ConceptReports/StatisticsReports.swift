// The value types LiveStatistics hands out: the HTTP API's JSON. Property names are the JSON keys (synthesised
// `Codable`, no renaming); optional properties are left out of the JSON when nil. Every number is finite.

/// One concept's running statistics.
public struct ConceptStats: Sendable, Codable, Equatable {
    /// `index`: the concept's index within its branch (`0..<Ks` static, `0..<Kd` dynamic).
    public var index: Int
    /// `frequency`: moving average of the fraction of clips whose top-K of the branch's codes (`q_s` or `q_d`)
    /// holds this concept. A branch's frequencies sum to K.
    public var frequency: Double
    /// `meanActivation`: moving average of the batch mean of its code (a cosine similarity, −1...1).
    public var meanActivation: Double
    /// `targetMass`: moving average of the batch mean of its Sinkhorn target (`t_s` or `t_d`); a branch's masses
    /// sum to 1.
    public var targetMass: Double
    /// `agreement`: moving average of the fraction of clips where it is in the top-K of both its branch's codes and
    /// the clip view's codes (the valid mask of `L_loc`).
    public var agreement: Double
    /// `hits`: clips that had it in their top-K since the statistics began.
    public var hits: Int
    /// `lastActiveStep`: the last step in which a clip had it in its top-K; absent if never.
    public var lastActiveStep: Int?
    /// `dead`: no clip had it in its top-K during the last `deadWindow` steps (judged once that many were seen).
    public var dead: Bool

    /// A value with every field given.
    package init(index: Int, frequency: Double, meanActivation: Double, targetMass: Double, agreement: Double, hits: Int, lastActiveStep: Int? = nil, dead: Bool) {
        self.index = index
        self.frequency = frequency
        self.meanActivation = meanActivation
        self.targetMass = targetMass
        self.agreement = agreement
        self.hits = hits
        self.lastActiveStep = lastActiveStep
        self.dead = dead
    }
}

/// How a branch's concepts are used.
public struct BranchUsage: Sendable, Codable, Equatable {
    /// `branch`: `"static"` or `"dynamic"`.
    public var branch: ConceptBranch
    /// `count`: concepts in the branch (Ks or Kd).
    public var count: Int
    /// `entropy`: entropy in nats of the normalised top-K frequencies (0 before the first step).
    public var entropy: Double
    /// `perplexity`: `exp(entropy)`, the effective number of concepts in use (1...count; `count` when usage is
    /// uniform; 0 before the first step).
    public var perplexity: Double
    /// `targetPerplexity`: `exp` of the entropy of the target masses (0 before the first step).
    public var targetPerplexity: Double
    /// `deadCount`: concepts flagged dead.
    public var deadCount: Int
    /// `concepts`: every concept's statistics, by index.
    public var concepts: [ConceptStats]

    /// A value with every field given.
    package init(branch: ConceptBranch, count: Int, entropy: Double, perplexity: Double, targetPerplexity: Double, deadCount: Int, concepts: [ConceptStats]) {
        self.branch = branch
        self.count = count
        self.entropy = entropy
        self.perplexity = perplexity
        self.targetPerplexity = targetPerplexity
        self.deadCount = deadCount
        self.concepts = concepts
    }
}

/// Concept usage of both branches (`GET /concepts`).
public struct ConceptsReport: Sendable, Codable, Equatable {
    /// `step`: the last training step recorded (0 before any).
    public var step: Int
    /// `steps`: steps recorded.
    public var steps: Int
    /// `firstStep`: the first step recorded; absent before any.
    public var firstStep: Int?
    /// `topK`: K of the top-K the frequencies count.
    public var topK: Int
    /// `deadWindow`: steps without a top-K hit after which a concept is dead.
    public var deadWindow: Int
    /// `emaRate`: rate α of the moving averages.
    public var emaRate: Double
    /// `static`: the static branch.
    public var `static`: BranchUsage
    /// `dynamic`: the dynamic branch.
    public var dynamic: BranchUsage

    /// A value with every field given.
    package init(step: Int, steps: Int, firstStep: Int? = nil, topK: Int, deadWindow: Int, emaRate: Double, `static`: BranchUsage, dynamic: BranchUsage) {
        self.step = step
        self.steps = steps
        self.firstStep = firstStep
        self.topK = topK
        self.deadWindow = deadWindow
        self.emaRate = emaRate
        self.`static` = `static`
        self.dynamic = dynamic
    }
}

/// A clip in a concept's gallery.
public struct GalleryItem: Sendable, Codable, Equatable {
    /// `item`: position in the gallery, 0 = highest score (the `item` of `galleryPNG`).
    public var item: Int
    /// `source`: the source the clip came from.
    public var source: String
    /// `step`: the last step in which the clip was seen (it may be drawn again from the replay buffer).
    public var step: Int
    /// `activation`: the clip's strongest code for the concept (its column of `q_v`).
    public var activation: Double
    /// `score`: `activation` minus the ageing since `step`, at the report's step (the gallery keeps the highest).
    public var score: Double
    /// `width`: thumbnail width in pixels.
    public var width: Int
    /// `height`: thumbnail height in pixels.
    public var height: Int
    /// `png`: the thumbnail as base64 PNG, only when asked for (`concept(branch:index:thumbnails: true)`).
    public var png: String?

    /// A value with every field given.
    package init(item: Int, source: String, step: Int, activation: Double, score: Double, width: Int, height: Int, png: String? = nil) {
        self.item = item
        self.source = source
        self.step = step
        self.activation = activation
        self.score = score
        self.width = width
        self.height = height
        self.png = png
    }
}

/// One concept with its gallery (`GET /concepts/{branch}/{index}`).
public struct ConceptDetail: Sendable, Codable, Equatable {
    /// `branch`: `"static"` or `"dynamic"`.
    public var branch: ConceptBranch
    /// `stats`: its running statistics.
    public var stats: ConceptStats
    /// `gallery`: recent clips that activate it most, highest score first.
    public var gallery: [GalleryItem]

    /// A value with every field given.
    package init(branch: ConceptBranch, stats: ConceptStats, gallery: [GalleryItem]) {
        self.branch = branch
        self.stats = stats
        self.gallery = gallery
    }
}

/// A concept and its code for one clip.
public struct ConceptActivation: Sendable, Codable, Equatable {
    /// `index`: the concept's index within its branch.
    public var index: Int
    /// `activation`: its code for the clip (cosine similarity, −1...1).
    public var activation: Double

    /// A value with every field given.
    package init(index: Int, activation: Double) {
        self.index = index
        self.activation = activation
    }
}

/// The concepts of a source's latest inspected clip (`GET /sources`).
public struct SourceConcepts: Sendable, Codable, Equatable {
    /// `source`: the source's name.
    public var source: String
    /// `step`: the training step at the inspection.
    public var step: Int
    /// `time`: when it was inspected, seconds since 1970.
    public var time: Double
    /// `inspections`: inspections of this source so far.
    public var inspections: Int
    /// `static`: the strongest static concepts (columns `0..<Ks` of `q_v`), strongest first.
    public var `static`: [ConceptActivation]
    /// `dynamic`: the strongest dynamic concepts (columns `Ks..<Ks+Kd` of `q_v`, indexed `0..<Kd`), strongest first.
    public var dynamic: [ConceptActivation]
    /// `inspectionSeconds`: how long the inspection's forward pass took.
    public var inspectionSeconds: Double
    /// `frameWidth`: width of the clip's frames.
    public var frameWidth: Int
    /// `frameHeight`: height of the clip's frames.
    public var frameHeight: Int
    /// `tokenGrid`: the layer4 token grid `[T', H', W']` the attention is over.
    public var tokenGrid: [Int]

    /// A value with every field given.
    package init(source: String, step: Int, time: Double, inspections: Int, `static`: [ConceptActivation], dynamic: [ConceptActivation], inspectionSeconds: Double, frameWidth: Int, frameHeight: Int, tokenGrid: [Int]) {
        self.source = source
        self.step = step
        self.time = time
        self.inspections = inspections
        self.`static` = `static`
        self.dynamic = dynamic
        self.inspectionSeconds = inspectionSeconds
        self.frameWidth = frameWidth
        self.frameHeight = frameHeight
        self.tokenGrid = tokenGrid
    }
}

/// The training history's resolution-limited points and running numbers (`GET /training`).
public struct TrainingHistoryReport: Sendable, Codable, Equatable {
    /// `step`: the latest step recorded.
    public var step: Int
    /// `skippedSteps`: steps skipped because a loss or gradient was not finite (as last reported).
    public var skippedSteps: Int
    /// `rollbacks`: rollbacks to a snapshot (as last reported).
    public var rollbacks: Int
    /// `clipsPerSecond`: training throughput (as last reported).
    public var clipsPerSecond: Double
    /// `lossAverage`: moving averages of each loss term (`aln div fid loc nce total`).
    public var lossAverage: LossTerms
    /// `lossAverageRate`: rate of those averages.
    public var lossAverageRate: Double
    /// `recorded`: steps recorded with finite losses.
    public var recorded: Int
    /// `stepsPerPoint`: recorded steps averaged into one point (doubles each time the history fills).
    public var stepsPerPoint: Int
    /// `capacity`: the most completed points kept (one partial point may follow them).
    public var capacity: Int
    /// `first`: the first recorded step, exactly; absent before any.
    public var first: TrainingPoint?
    /// `latest`: the latest recorded step, exactly; absent before any.
    public var latest: TrainingPoint?
    /// `points`: the downsampled history, oldest first: from `first.step` to `latest.step`.
    public var points: [TrainingPoint]

    /// A value with every field given.
    package init(step: Int, skippedSteps: Int, rollbacks: Int, clipsPerSecond: Double, lossAverage: LossTerms, lossAverageRate: Double, recorded: Int, stepsPerPoint: Int, capacity: Int, first: TrainingPoint? = nil, latest: TrainingPoint? = nil, points: [TrainingPoint]) {
        self.step = step
        self.skippedSteps = skippedSteps
        self.rollbacks = rollbacks
        self.clipsPerSecond = clipsPerSecond
        self.lossAverage = lossAverage
        self.lossAverageRate = lossAverageRate
        self.recorded = recorded
        self.stepsPerPoint = stepsPerPoint
        self.capacity = capacity
        self.first = first
        self.latest = latest
        self.points = points
    }
}

/// The mean of consecutive recorded steps.
public struct TrainingPoint: Sendable, Codable, Equatable {
    /// `firstStep`: the first step averaged.
    public var firstStep: Int
    /// `step`: the last step averaged.
    public var step: Int
    /// `samples`: steps averaged.
    public var samples: Int
    /// `time`: when the last step was recorded, seconds since 1970.
    public var time: Double
    /// `losses`: mean of each loss term.
    public var losses: LossTerms
    /// `gradientNorm`: mean global gradient norm.
    public var gradientNorm: Double
    /// `clipsPerSecond`: mean reported throughput.
    public var clipsPerSecond: Double
    /// `skippedSteps`: skipped steps so far, at `step`.
    public var skippedSteps: Int
    /// `rollbacks`: rollbacks so far, at `step`.
    public var rollbacks: Int

    /// A value with every field given.
    package init(firstStep: Int, step: Int, samples: Int, time: Double, losses: LossTerms, gradientNorm: Double, clipsPerSecond: Double, skippedSteps: Int, rollbacks: Int) {
        self.firstStep = firstStep
        self.step = step
        self.samples = samples
        self.time = time
        self.losses = losses
        self.gradientNorm = gradientNorm
        self.clipsPerSecond = clipsPerSecond
        self.skippedSteps = skippedSteps
        self.rollbacks = rollbacks
    }
}
