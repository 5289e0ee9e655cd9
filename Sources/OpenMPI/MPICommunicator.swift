import CMPI
import Collective
import Synchronization

/// The `MPI_COMM_WORLD` of a job started by Open MPI's `mpirun`: one rank per process, every collective a blocking
/// Open MPI call. MPI is started once per process (`world()`), with `MPI_THREAD_SERIALIZED`: calls from several
/// threads are serialised by a mutex, never concurrent. Errors return to the caller (`MPI_ERRORS_RETURN`) so the
/// daemon can log which call failed before it exits; a rank that dies still ends the whole job, as `mpirun` does.
public final class MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int
    /// The communicator handle, behind the lock that serialises every call.
    private let comm: Mutex<MPI_Comm>
    /// Longest single MPI transfer, in elements (MPI counts are 32-bit).
    static let chunk = 1 << 28

    private static let shared = Mutex<MPICommunicator?>(nil)

    /// The world of this process, starting MPI on first use.
    public static func world() throws(CollectiveError) -> MPICommunicator {
        let result: Result<MPICommunicator, CollectiveError> = shared.withLock { existing in
            if let existing { return .success(existing) }
            var initialized: Int32 = 0
            MPI_Initialized(&initialized)
            if initialized == 0 {
                var provided: Int32 = 0
                let rc = MPI_Init_thread(nil, nil, cmpi_thread_serialized(), &provided)
                guard rc == cmpi_success() else { return .failure(error(rc, "MPI_Init_thread")) }
                guard provided >= cmpi_thread_serialized() else {
                    return .failure(CollectiveError(.unavailable, "Open MPI provides thread level \(provided), conceptd needs MPI_THREAD_SERIALIZED"))
                }
            }
            guard let world = cmpi_comm_world() else { return .failure(CollectiveError(.unavailable, "Open MPI has no MPI_COMM_WORLD")) }
            MPI_Comm_set_errhandler(world, cmpi_errors_return())
            var rank: Int32 = 0, size: Int32 = 0
            MPI_Comm_rank(world, &rank)
            MPI_Comm_size(world, &size)
            let c = MPICommunicator(comm: world, rank: Int(rank), size: Int(size))
            existing = c
            return .success(c)
        }
        return try result.get()
    }

    private init(comm: sending MPI_Comm, rank: Int, size: Int) {
        self.comm = Mutex(comm); self.rank = rank; self.size = size
    }

    /// Ends MPI in this process (after the last collective call; `MPI_Finalize` waits for every rank).
    public static func finalize() {
        shared.withLock { existing in
            var finalized: Int32 = 0, initialized: Int32 = 0
            MPI_Initialized(&initialized)
            MPI_Finalized(&finalized)
            if initialized != 0 && finalized == 0 { MPI_Finalize() }
            existing = nil
        }
    }

    /// Whether this process was started by Open MPI's launcher (`mpirun`, `mpiexec`), judged from the variables it sets.
    public static func launchedByMPI(environment: [String: String]) -> Bool {
        environment["OMPI_COMM_WORLD_SIZE"] != nil || environment["PMIX_RANK"] != nil
    }

    static func error(_ rc: Int32, _ call: String) -> CollectiveError {
        var buffer = [CChar](repeating: 0, count: Int(MPI_MAX_ERROR_STRING) + 1)
        var length: Int32 = 0
        MPI_Error_string(rc, &buffer, &length)
        let text = String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return CollectiveError(.library, "\(call) failed: \(text) (MPI error \(rc))")
    }

    private static func datatype(_ kind: CollectiveKind) -> MPI_Datatype? {
        switch kind {
        case .float: cmpi_float()
        case .double: cmpi_double()
        case .uint64: cmpi_uint64()
        }
    }

    private static func op(_ operation: ReduceOperation) -> MPI_Op? {
        switch operation {
        case .sum: cmpi_sum()
        case .max: cmpi_max()
        case .min: cmpi_min()
        }
    }

    private func call(_ name: String, _ body: (MPI_Comm) -> Int32) throws(CollectiveError) {
        let rc = comm.withLock { body($0) }
        guard rc == cmpi_success() else { throw Self.error(rc, name) }
    }

    public func allReduce<T: CollectiveValue>(_ buffer: UnsafeMutablePointer<T>, count: Int, _ operation: ReduceOperation) throws(CollectiveError) {
        guard count >= 0 else { throw CollectiveError(.invalidArgument, "allReduce of \(count) values") }
        let type = Self.datatype(T.collectiveKind), op = Self.op(operation)
        var done = 0
        while done < count {
            let n = Swift.min(Self.chunk, count - done)
            try call("MPI_Allreduce") { MPI_Allreduce(cmpi_in_place(), buffer + done, Int32(n), type, op, $0) }
            done += n
        }
    }

    public func broadcast<T: CollectiveValue>(_ buffer: UnsafeMutablePointer<T>, count: Int, root: Int) throws(CollectiveError) {
        guard count >= 0, (0..<size).contains(root) else {
            throw CollectiveError(.invalidArgument, "broadcast of \(count) values from rank \(root) in a world of \(size)")
        }
        let type = Self.datatype(T.collectiveKind)
        var done = 0
        while done < count {
            let n = Swift.min(Self.chunk, count - done)
            try call("MPI_Bcast") { MPI_Bcast(buffer + done, Int32(n), type, Int32(root), $0) }
            done += n
        }
    }

    public func allGather<T: CollectiveValue>(_ values: [T]) throws(CollectiveError) -> [T] {
        guard values.count < Int(Int32.max) else { throw CollectiveError(.invalidArgument, "allGather of \(values.count) values") }
        var counts = [Int32](repeating: 0, count: size)
        var mine = Int32(values.count)
        try call("MPI_Allgather") { MPI_Allgather(&mine, 1, cmpi_int32(), &counts, 1, cmpi_int32(), $0) }
        var displacements = [Int32](repeating: 0, count: size)
        var total = 0
        for r in 0..<size {
            guard total + Int(counts[r]) < Int(Int32.max) else { throw CollectiveError(.invalidArgument, "allGather of more than 2^31 values") }
            displacements[r] = Int32(total); total += Int(counts[r])
        }
        var out = [T](repeating: 0, count: total)
        let type = Self.datatype(T.collectiveKind)
        try values.withUnsafeBufferPointer { (send: UnsafeBufferPointer<T>) throws(CollectiveError) in
            try out.withUnsafeMutableBufferPointer { (receive: inout UnsafeMutableBufferPointer<T>) throws(CollectiveError) in
                try call("MPI_Allgatherv") {
                    MPI_Allgatherv(send.baseAddress, mine, type, receive.baseAddress, counts, displacements, type, $0)
                }
            }
        }
        return out
    }

    public func allGather<T: CollectiveValue>(_ block: UnsafePointer<T>, count: Int, into output: UnsafeMutablePointer<T>) throws(CollectiveError) {
        guard count >= 0, count < Int(Int32.max) else { throw CollectiveError(.invalidArgument, "allGather of \(count) values per rank") }
        let type = Self.datatype(T.collectiveKind)
        try call("MPI_Allgather") { MPI_Allgather(block, Int32(count), type, output, Int32(count), type, $0) }
    }

    public func reduceScatter<T: CollectiveValue>(_ input: UnsafePointer<T>, count: Int, into output: UnsafeMutablePointer<T>) throws(CollectiveError) {
        guard count >= 0, count < Int(Int32.max) else { throw CollectiveError(.invalidArgument, "reduceScatter of \(count) values per rank") }
        let type = Self.datatype(T.collectiveKind)
        try call("MPI_Reduce_scatter_block") { MPI_Reduce_scatter_block(input, output, Int32(count), type, cmpi_sum(), $0) }
    }

    public func barrier() throws(CollectiveError) {
        try call("MPI_Barrier") { MPI_Barrier($0) }
    }
}

