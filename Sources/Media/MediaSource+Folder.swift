import Foundation
import Glibc
import LibAV

extension MediaSource {
    /// The watch-folder runner: ingest settled files, then watch with inotify; the folder vanishing is a
    /// failure that backs off and retries like a dropped stream.
    func runFolder(_ folder: String) {
        let directory = URL(fileURLWithPath: folder).standardizedFileURL.path
        let watchOptions = options.watch
        let ledgerPath = watchOptions.stateDirectory.map { IngestLedger.path(stateDirectory: $0, folder: directory) }
        if let ledgerPath {
            do {
                let onDisk = try IngestLedger.load(from: ledgerPath)
                ledgerBox.withLock { $0!.merge(onDisk) }
            } catch {
                logger.warning("ignoring unreadable ledger: \(error)")
                stats.warn("ignoring unreadable ledger \(ledgerPath): \(error)")
            }
        }
        guard let assembler = makeAssembler() else { return }
        var context = FolderContext(directory: directory, ledgerPath: ledgerPath, assembler: assembler,
                                    tracker: SettleTracker(settle: watchOptions.settleSeconds))
        var watch: DirectoryWatch? = nil
        runSessions(live: true, announceReconnects: false, open: {
            do {
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory),
                    isDirectory.boolValue
                else { throw MediaError(.fileSystem, "watch folder \(directory) does not exist") }
                // Watch first, then scan: nothing that appears in between is missed.
                watch = try DirectoryWatch(directory: directory)
                pruneLedger()
                scan(&context)
                logger.info("watching \(directory)")
                // A folder that is being watched is a working connection: if it vanishes later, the first
                // retry waits only the initial delay.
                return .opened(delivering: true)
            } catch {
                logger.warning("cannot watch folder: \(error)")
                return .failed("\(error)")
            }
        }, emit: {
            guard let watch else { return .failed("no open watch", delivered: false) }
            do {
                try watchLoop(watch, &context)
                return .ended
            } catch let error as MediaError where error.code == .cancelled {
                return .cancelled
            } catch {
                logger.warning("watch folder interrupted: \(error)")
                return .failed("\(error)", delivered: true)
            }
        }, close: {
            watch = nil
            context.tracker = SettleTracker(settle: watchOptions.settleSeconds)
        })
    }

    struct FolderContext {
        let directory: String
        let ledgerPath: String?
        let assembler: ClipAssembler
        var tracker: SettleTracker
        var badPackets = 0
    }

    /// Drops ledger entries whose files are gone (moved, deleted), so the ledger does not grow forever.
    private func pruneLedger() {
        ledgerBox.withLock { ledger in
            ledger!.prune { FileManager.default.fileExists(atPath: $0.path) }
        }
    }

    /// Puts every candidate file in the folder into the settle tracker.
    private func scan(_ context: inout FolderContext) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: context.directory) else { return }
        for n in names.sorted() { observe(n, &context) }
    }

    private func observe(_ name: String, _ context: inout FolderContext) {
        guard WatchFileFilter.isCandidate(name) else { return }
        let path = context.directory + "/" + name
        guard let id = FileIdentity.of(path), id.isRegular else {
            context.tracker.remove(path)
            return
        }
        context.tracker.observe(path, identity: id, now: monotonicSeconds(), wallNow: Date().timeIntervalSince1970)
    }

    private func watchLoop(_ watch: DirectoryWatch, _ context: inout FolderContext) throws {
        let poll = min(0.5, max(0.05, options.watch.settleSeconds / 4))
        while true {
            if isStopping { throw MediaError(.cancelled, "source stopped") }
            let events = try watch.wait(timeout: poll)
            for e in events {
                if e.mask & UInt32(IN_Q_OVERFLOW) != 0 {
                    scan(&context)
                    continue
                }
                if e.mask & (UInt32(IN_DELETE_SELF) | UInt32(IN_MOVE_SELF) | UInt32(IN_IGNORED)) != 0 {
                    throw MediaError(.fileSystem, "watch folder \(context.directory) was removed or moved")
                }
                if e.name.isEmpty || e.isDirectory { continue }
                if e.mask & (UInt32(IN_DELETE) | UInt32(IN_MOVED_FROM)) != 0 {
                    context.tracker.remove(context.directory + "/" + e.name)
                } else {
                    observe(e.name, &context)
                }
            }
            // Growing files keep resetting their settle time.
            for path in context.tracker.paths {
                observe(String(path.dropFirst(context.directory.count + 1)), &context)
            }
            for path in context.tracker.takeReady(now: monotonicSeconds()) {
                if isStopping { throw MediaError(.cancelled, "source stopped") }
                try ingest(path, &context)
            }
        }
    }

    /// Decodes one settled file into clips, records it in the ledger and applies the after-policy.
    private func ingest(_ path: String, _ context: inout FolderContext) throws {
        guard let id = FileIdentity.of(path), id.isRegular else { return }
        if ledgerBox.withLock({ $0!.contains(path: path, size: id.size, modified: id.modified) }) { return }
        stats.update { $0.currentFile = path }
        defer { stats.update { $0.currentFile = nil } }
        let clipsBefore = context.assembler.clipsMade
        let framesBefore = stats.snapshot.framesDecoded
        var reason: String? = nil
        do {
            let input = try openInput(url: path, format: nil)
            context.assembler.orientation = input.orientation
            defer { context.badPackets += input.badPackets }
            try decodeFile(input, context)
            context.assembler.reset()
            if stats.snapshot.framesDecoded == framesBefore { reason = "no video frame could be decoded" }
        } catch let error as MediaError where error.code == .cancelled {
            context.assembler.reset()
            throw error
        } catch {
            context.assembler.reset()
            reason = "\(error)"
        }
        let clips = context.assembler.clipsMade - clipsBefore
        let entry = IngestLedger.Entry(path: path, size: id.size, modified: id.modified,
                                       outcome: reason == nil ? .ingested : .rejected, reason: reason, clips: clips)
        if let reason {
            logger.warning("rejected \(path): \(reason)")
            stats.update {
                $0.filesRejected += 1
                $0.lastError = "rejected \(path): \(reason)"
            }
        } else {
            logger.info("ingested \(path): \(clips) clips")
            stats.update { $0.filesIngested += 1 }
        }
        ledgerBox.withLock { $0!.record(entry) }
        applyAfterPolicy(path, rejected: reason != nil, context)
        if let ledgerPath = context.ledgerPath {
            do {
                try ledgerBox.withLock { $0! }.save(to: ledgerPath)
            } catch {
                logger.error("cannot save ledger: \(error)")
                stats.warn("cannot save ledger \(ledgerPath): \(error)")
            }
        }
        stats.update {
            $0.badPackets = context.badPackets
            $0.clipsMade = context.assembler.clipsMade
            $0.framesSampled = context.assembler.framesSampled
            $0.timestampJumps = context.assembler.timestampJumps
        }
    }

    private func decodeFile(_ input: VideoInput, _ context: FolderContext) throws {
        let frame = try Frame()
        let assembler = context.assembler
        while true {
            if isStopping { throw MediaError(.cancelled, "source stopped") }
            guard let time = try input.nextFrame(
                into: frame, readTimeout: options.stallSeconds, stallAfter: options.stallSeconds,
                tolerateReadErrors: true)
            else { break }
            stats.framesDecoded(1, decodeSeconds: input.takeDecodeSeconds())
            try assembler.push(frame, time: time) { clip in try deliver(clip) }
        }
        try assembler.finish(pad: true) { clip in try deliver(clip) }
    }

    private func applyAfterPolicy(_ path: String, rejected: Bool, _ context: FolderContext) {
        let fm = FileManager.default
        switch options.watch.after {
        case .keep:
            return
        case .delete:
            // Rejected files stay for inspection; the ledger keeps them from being retried.
            if rejected { return }
            do { try fm.removeItem(atPath: path) } catch {
                logger.error("cannot delete \(path): \(error)")
                stats.warn("cannot delete \(path): \(error)")
            }
        case .move(let dir):
            var target = dir.hasPrefix("/") ? dir : context.directory + "/" + dir
            if rejected { target += "/rejected" }
            do {
                try fm.createDirectory(atPath: target, withIntermediateDirectories: true)
                let name = (path as NSString).lastPathComponent
                var destination = target + "/" + name
                var n = 1
                while fm.fileExists(atPath: destination) {
                    destination = target + "/" + ((name as NSString).deletingPathExtension) + "-\(n)"
                        + ((name as NSString).pathExtension.isEmpty ? "" : "." + (name as NSString).pathExtension)
                    n += 1
                }
                try fm.moveItem(atPath: path, toPath: destination)
            } catch {
                logger.error("cannot move \(path) to \(target): \(error)")
                stats.warn("cannot move \(path) to \(target): \(error)")
            }
        }
    }
}
