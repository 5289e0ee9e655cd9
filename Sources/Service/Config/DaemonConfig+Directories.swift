import Foundation

extension DaemonConfig {
    /// The directories of this configuration that the running user could not use, as problems at their keys
    /// (`check-config` prints them; nothing is created or changed): the state and snapshot directories and the
    /// ingest records must be writable (or creatable), watch folders readable (and writable unless `after = "keep"`),
    /// `after = "move:<dir>"` targets writable. `text` is the file the configuration came from (for line numbers).
    public func directoryProblems(text: String?) -> [ConfigProblem] {
        let locator = text.map(TOMLKeyLocator.init)
        var out: [ConfigProblem] = []
        func add(_ path: ConfigKeyPath, _ message: String) {
            out.append(ConfigProblem(path, line: locator?.nearestLine(of: path), message))
        }
        if let p = DirectoryAccess.problem(stateDirectory, write: true) { add("state_directory", "state directory: \(p)") }
        if let p = DirectoryAccess.problem(snapshots.directory, write: true) { add("snapshots.directory", "snapshot directory: \(p)") }
        let folders = sources.enumerated().filter { $0.element.kind == .folder && $0.element.enabled }
        if !folders.isEmpty, let p = DirectoryAccess.problem((stateDirectory as NSString).appendingPathComponent("ingest"), write: true) {
            add("state_directory", "ingest records: \(p)")
        }
        for (i, source) in folders {
            let key = ConfigKeyPath.root.appending("source").appending(index: i)
            let folder = String(source.uri.dropFirst("folder:".count))
            let after = source.after ?? .keep
            if let p = DirectoryAccess.problem(folder, write: after != .keep) {
                add(key.appending("uri"), "watch folder: \(p)" + (after != .keep ? " (after = \"\(after)\" needs write access)" : ""))
            }
            if case .move(let target) = after, let p = DirectoryAccess.problem(target, write: true) {
                add(key.appending("after"), "move target: \(p)")
            }
        }
        return out
    }
}
