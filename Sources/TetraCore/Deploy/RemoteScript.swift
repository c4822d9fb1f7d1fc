import FoundationEssentials

/// The remote side of an ssh target is driven by single ssh commands, each a short POSIX sh
/// script. Every piece of data in a script (paths, ids, tokens, JSON lines) goes through
/// `ShellQuote.quote`; the rest is constant script text written here. The script is passed
/// to ssh as one argument `sh -c '<script>'` (quoted once more), so it runs under `sh` even
/// when the remote user's login shell is not a POSIX shell.
///
/// Results come back as marker lines on stdout (`@@tetra:...`), never as exit codes alone:
/// ssh itself uses 255, and a remote shell may use anything.
struct RemoteScript: Equatable {
    private(set) var lines: [String] = []

    init() {}

    /// Constant script text (no data in it).
    mutating func raw(_ text: String) { lines.append(text) }

    /// A simple command: every word quoted.
    mutating func cmd(_ words: String...) { lines.append(ShellQuote.join(words)) }

    static func q(_ word: String) -> String { ShellQuote.quote(word) }

    var text: String { lines.joined(separator: "\n") }

    /// The one string ssh passes to the remote login shell.
    var sshArgument: String { ShellQuote.join(["sh", "-c", text]) }

    static let marker = "@@tetra:"
}

/// Paths at a target, as quoted words.
struct RemotePaths {
    let root: String
    var releases: String { root + "/releases" }
    var meta: String { root + "/.tetra" }
    var lock: String { meta + "/lock" }
    /// What a lock holder's keeper session holds `flock(1)` on (see `LockKeeper`).
    func alive(_ token: String) -> String { meta + "/alive." + token }
    var history: String { meta + "/history.jsonl" }
    var journal: String { meta + "/" + TargetJournal.fileName }
    /// Pruned releases waiting to be deleted (renamed here by the commit; see `reapTrash`).
    var trash: String { meta + "/trash" }
    var current: String { root + "/current" }
    var currentTmp: String { root + "/current.tmp" }
    func release(_ id: ReleaseID) -> String { releases + "/" + id.rawValue }
    func partial(_ id: ReleaseID) -> String { release(id) + ".partial" }
}

/// The scripts, one per operation. Unit tests check them word for word and run them with a
/// real `sh` against a directory; the end-to-end tests run them over a real sshd.
enum RemoteScripts {
    typealias Q = RemoteScript

    /// Prints the state of the target between `@@tetra:state` and `@@tetra:end`.
    static func appendStateReport(_ s: inout RemoteScript, _ p: RemotePaths) {
        s.raw("echo @@tetra:state")
        s.raw("if [ -d \(Q.q(p.releases)) ]; then echo exists=yes; fi")
        s.raw("if [ -L \(Q.q(p.current)) ]; then printf 'current=%s\\n' \"$(readlink \(Q.q(p.current)))\"; fi")
        s.raw("if command -v rsync >/dev/null 2>&1; then echo rsync=yes; fi")
        s.raw("if command -v sha256sum >/dev/null 2>&1; then echo sha256sum=yes; fi")
        s.raw("echo @@tetra:entries")
        s.raw("if [ -d \(Q.q(p.releases)) ]; then ls -1A \(Q.q(p.releases)); fi")
        s.raw("echo @@tetra:end")
    }

    static func inspect(_ p: RemotePaths) -> RemoteScript {
        var s = RemoteScript()
        appendStateReport(&s, p)
        return s
    }

    /// Creates the directories, writes the lock record to a temporary file and hard-links it
    /// to `.tetra/lock` (atomic: fails when the lock exists). On success reports the state,
    /// then removes the leftovers of crashed runs it lists; otherwise prints the holder's record
    /// and, when that holder's keeper session is gone, `@@tetra:holder-gone`.
    ///
    /// A record that names a keeper (`"keeper":true`) is linked only once the keeper holds
    /// its flock (waited for up to 10 s); when the target has no `flock(1)` or the keeper does
    /// not start, `plain` (the same record without the keeper) is linked instead.
    static func tryLock(_ p: RemotePaths, record: TargetLockRecord) -> RemoteScript {
        let temp = p.meta + "/lock." + record.token
        var s = RemoteScript()
        s.raw("mkdir -p \(Q.q(p.meta)) \(Q.q(p.releases)) || exit 1")
        s.raw("rec=\(Q.q(record.jsonLine))")
        if record.keeper == true {
            var plain = record
            plain.keeper = nil
            let alive = Q.q(p.alive(record.token))
            s.raw("if [ ! -e \(Q.q(p.lock)) ]; then")
            s.raw("if command -v flock >/dev/null 2>&1; then n=0; "
                  + "while [ ! -e \(alive) ] || flock -n \(alive) true; do n=$((n+1)); "
                  + "if [ $n -gt 200 ]; then rec=\(Q.q(plain.jsonLine)); echo @@tetra:unkept; break; fi; "
                  + "sleep 0.05 2>/dev/null || sleep 1; done; else rec=\(Q.q(plain.jsonLine)); echo @@tetra:unkept; fi")
            s.raw("fi")
        }
        s.raw("printf '%s\\n' \"$rec\" > \(Q.q(temp)) || exit 1")
        s.raw("if [ ! -d \(Q.q(p.lock)) ] && ln \(Q.q(temp)) \(Q.q(p.lock)) 2>/dev/null; then")
        s.raw("rm -f \(Q.q(temp))")
        s.raw("echo @@tetra:acquired")
        appendReconcile(&s, p)
        appendStateReport(&s, p)
        s.raw("for p in \(Q.q(p.releases))/*.partial; do if [ -d \"$p\" ]; then rm -rf \"$p\" || echo \"@@tetra:cleanup-failed $p\"; fi; done")
        s.raw("rm -f \(Q.q(p.currentTmp))")
        s.raw("if [ -d \(Q.q(p.trash)) ]; then")
        appendReapTrash(&s, p)
        s.raw("fi")
        s.raw("else")
        s.raw("rm -f \(Q.q(temp))")
        s.raw("if [ -e \(Q.q(p.lock)) ]; then echo @@tetra:held; cat \(Q.q(p.lock)); echo; echo @@tetra:end-held; ")
        appendHolderGone(&s, p)
        s.raw("else echo \(Q.q("tetra: cannot create " + p.lock)) >&2; exit 1; fi")
        s.raw("fi")
        return s
    }

    /// Prints `@@tetra:holder-gone` when the lock names a keeper and nothing holds that
    /// keeper's flock any more: its session ended, so its holder (wherever it ran) is gone.
    /// Without `flock(1)` at the target nothing is printed (the lock's TTL decides then).
    static func appendHolderGone(_ s: inout RemoteScript, _ p: RemotePaths) {
        s.raw("if grep -q -F -e '\"keeper\":true' \(Q.q(p.lock)) 2>/dev/null && command -v flock >/dev/null 2>&1; then "
              + "t=$(sed -n 's/.*\"token\":\"\\([0-9a-f]*\\)\".*/\\1/p' \(Q.q(p.lock))); "
              + "if [ -n \"$t\" ] && { [ ! -e \(Q.q(p.meta))/alive.\"$t\" ] || flock -n \(Q.q(p.meta))/alive.\"$t\" true; }; "
              + "then echo @@tetra:holder-gone; fi; fi")
    }

    /// The keeper session of a lock holder (see `LockKeeper`): holds `flock(1)` on
    /// `.tetra/alive.<token>` for as long as its standard input stays open, which is as long
    /// as the tetra that started it lives, then removes that file. Prints `@@tetra:no-flock`
    /// and ends when the target has no flock(1).
    static func keeper(_ p: RemotePaths, token: String) -> RemoteScript {
        var s = RemoteScript()
        s.raw("mkdir -p \(Q.q(p.meta)) || exit 1")
        s.raw("if ! command -v flock >/dev/null 2>&1; then echo @@tetra:no-flock; exit 0; fi")
        s.raw("exec 9>>\(Q.q(p.alive(token))) || exit 1")
        // The lock script probes this file with `flock -n` while it waits for the keeper: a
        // probe that lands between the file's creation and this flock holds it for an
        // instant, so a failed try is retried (up to 5 s), not taken as the end. (Failing at
        // once left the lock script polling its full 10 s for a keeper that had gone.)
        // `flock -n` in a loop, not `flock -w`: busybox's flock has no -w.
        s.raw("n=0; until flock -n 9; do n=$((n+1)); if [ $n -gt 100 ]; then exit 1; fi; sleep 0.05 2>/dev/null || sleep 1; done")
        // cat holds the flock too (fd 9 is inherited); when our stdin ends the file goes.
        s.raw("cat >/dev/null")
        s.cmd("rm", "-f", p.alive(token))
        return s
    }

    /// Under the lock: finishes what a killed commit left (see `TargetJournal`), and removes
    /// lock temporaries of killed attempts older than a minute.
    static func appendReconcile(_ s: inout RemoteScript, _ p: RemotePaths) {
        s.raw("if [ -f \(Q.q(p.journal)) ]; then")
        s.raw("ja=$(sed -n 1p \(Q.q(p.journal))); jf=$(sed -n 2p \(Q.q(p.journal))); jl=$(sed -n 3p \(Q.q(p.journal)))")
        s.raw("if [ -n \"$ja\" ] && [ \"$(readlink \(Q.q(p.current)))\" = \"$ja\" ]; then "
              + "grep -q -x -F -e \"$jl\" \(Q.q(p.history)) 2>/dev/null || printf '%s\\n' \"$jl\" >> \(Q.q(p.history)); "
              + "else case \"$jf\" in ''|-|*[!A-Za-z0-9._-]*) ;; *) rm -rf \(Q.q(p.releases))/\"$jf\" ;; esac; fi")
        s.raw("rm -f \(Q.q(p.journal))")
        s.raw("fi")
        s.raw("find \(Q.q(p.meta)) -maxdepth 1 -type f -name 'lock.?*' -mmin +1 -exec rm -f {} + 2>/dev/null")
        // Keeper files whose keeper is gone (a live keeper holds its flock: flock -n fails).
        s.raw("if command -v flock >/dev/null 2>&1; then find \(Q.q(p.meta)) -maxdepth 1 -type f -name 'alive.*' -mmin +1 "
              + "-exec flock -n {} rm -f {} \\; 2>/dev/null; fi")
    }

    /// Moves the lock aside and removes it only if it still carries `token` (else puts it back).
    static func breakLock(_ p: RemotePaths, token: String, asideSuffix: String) -> RemoteScript {
        let aside = p.meta + "/lock.broken." + asideSuffix
        var s = RemoteScript()
        s.raw("if mv \(Q.q(p.lock)) \(Q.q(aside)) 2>/dev/null; then")
        s.raw("if grep -q -F -e \(Q.q(tokenNeedle(token))) \(Q.q(aside)); then rm -f \(Q.q(aside)); echo @@tetra:broken; "
              + "else ln \(Q.q(aside)) \(Q.q(p.lock)) 2>/dev/null; rm -f \(Q.q(aside)); echo @@tetra:changed; fi")
        s.raw("else echo @@tetra:gone; fi")
        return s
    }

    static func unlock(_ p: RemotePaths, token: String) -> RemoteScript {
        var s = RemoteScript()
        appendUnlock(&s, p, token: token)
        return s
    }

    static func appendUnlock(_ s: inout RemoteScript, _ p: RemotePaths, token: String) {
        s.raw("if grep -q -F -e \(Q.q(tokenNeedle(token))) \(Q.q(p.lock)) 2>/dev/null; then rm -f \(Q.q(p.lock)); fi")
        s.cmd("rm", "-f", p.alive(token))
    }

    /// `"token":"<token>"` as it appears in the lock's JSON.
    static func tokenNeedle(_ token: String) -> String { "\"token\":\"\(token)\"" }

    static func removePartial(_ p: RemotePaths, _ id: ReleaseID) -> RemoteScript {
        var s = RemoteScript()
        s.cmd("rm", "-rf", p.partial(id))
        return s
    }

    /// Verify, finalize, switch, history, prune, unlock (see `CommitPlan`). Exit 3: the
    /// release already exists; exit 4: the release to activate does not exist; exit 5: the
    /// upload does not match its manifest (the failing files on stderr); exit 6: the lock
    /// is no longer ours.
    /// `stdinFile`: the one of `plan.releaseFiles` that arrives on stdin (the manifest, which
    /// can be large); the others are written from quoted arguments (they are small).
    static func commit(_ p: RemotePaths, _ plan: CommitPlan, stdinFile: String? = nil) -> RemoteScript {
        var s = RemoteScript()
        // Still ours? A lock broken while this command ran (its keeper session lost) is not
        // committed over: exit 6.
        if let token = plan.unlockToken {
            s.raw("grep -q -F -e \(Q.q(tokenNeedle(token))) \(Q.q(p.lock)) 2>/dev/null || "
                  + "{ echo \(Q.q("tetra: the lock on " + p.root + " is no longer ours")) >&2; exit 6; }")
        }
        // Intent first: a kill from here on is reconciled by the next lock (see TargetJournal).
        let journal = TargetJournal(plan)
        let writeJournal = "mkdir -p \(Q.q(p.meta)) && printf '%s\\n%s\\n%s\\n' \(Q.q(journal.link)) \(Q.q(journal.finalize?.rawValue ?? "-")) "
            + "\(Q.q(journal.historyLine)) > \(Q.q(p.journal + ".tmp")) && mv -f \(Q.q(p.journal + ".tmp")) \(Q.q(p.journal)) || exit 1"
        if let id = plan.finalize {
            for name in plan.releaseFiles.keys.sorted() where name != stdinFile {
                let text = String(decoding: plan.releaseFiles[name]!, as: UTF8.self)
                s.raw("printf '%s' \(Q.q(text)) > \(Q.q(p.partial(id) + "/" + name)) || exit 1")
            }
            if let stdinFile {
                s.raw("cat > \(Q.q(p.partial(id) + "/" + stdinFile)) || exit 1")
            }
            if plan.verify {
                s.raw("r=$(cd \(Q.q(p.partial(id))) && sha256sum -c \(Q.q(ReleaseManifest.fileName)) 2>&1) || "
                      + "{ printf '%s\\n' \"$r\" | grep -v ': OK$' | head -n 20 >&2; exit 5; }")
            }
            s.raw("if [ -e \(Q.q(p.release(id))) ]; then echo \(Q.q("tetra: " + p.release(id) + " already exists")) >&2; exit 3; fi")
            s.raw(writeJournal)
            s.raw("mv \(Q.q(p.partial(id))) \(Q.q(p.release(id))) || exit 1")
        }
        s.raw("if [ ! -d \(Q.q(p.release(plan.activate))) ]; then echo \(Q.q("tetra: no release " + plan.activate.rawValue)) >&2; exit 4; fi")
        if plan.finalize == nil { s.raw(writeJournal) }
        s.raw("rm -f \(Q.q(p.currentTmp)) && ln -s \(Q.q("releases/" + plan.activate.rawValue)) \(Q.q(p.currentTmp)) "
              + "&& mv -T \(Q.q(p.currentTmp)) \(Q.q(p.current)) || { rm -f \(Q.q(p.currentTmp)); exit 1; }")
        s.raw("echo @@tetra:switched")
        s.raw("printf '%s\\n' \(Q.q(plan.historyLine)) >> \(Q.q(p.history)) || echo \(Q.q("tetra: warning: could not append to " + p.history)) >&2")
        s.raw("rm -f \(Q.q(p.journal))")
        // A pruned release leaves releases/ at once (one rename into .tetra/trash); deleting
        // its files is left to a background job, off the path of the push.
        if !plan.prune.isEmpty {
            let suffix = "." + (plan.unlockToken ?? TargetLockRecord.newToken())
            s.raw("mkdir -p \(Q.q(p.trash))")
            for id in plan.prune {
                s.raw("mv \(Q.q(p.release(id))) \(Q.q(p.trash + "/" + id.rawValue + suffix)) || echo \(Q.q("@@tetra:prune-failed " + id.rawValue))")
            }
        }
        if let token = plan.unlockToken { appendUnlock(&s, p, token: token) }
        s.raw("echo @@tetra:committed")
        if !plan.prune.isEmpty { appendReapTrash(&s, p) }
        return s
    }

    /// Deletes what is in `.tetra/trash` in a background job (standard streams on /dev/null,
    /// so the ssh session does not wait for it). Directories are made writable first (a
    /// release may hold 0555 ones). What a failed or killed job leaves, the next lock starts
    /// again.
    static func appendReapTrash(_ s: inout RemoteScript, _ p: RemotePaths) {
        s.raw("( cd \(Q.q(p.trash)) && { find . -mindepth 1 -type d ! -perm -u=rwx -exec chmod u+rwx {} + ; rm -rf -- ./* ; } ) "
              + "</dev/null >/dev/null 2>&1 &")
    }

    /// Prints each file between `@@tetra:file MARK PATH` and `\n@@tetra:eof MARK`, or
    /// `@@tetra:missing MARK PATH`.
    static func readFiles(_ p: RemotePaths, _ relativePaths: [String], mark: String) -> RemoteScript {
        var s = RemoteScript()
        for rel in relativePaths {
            let path = p.root + "/" + rel
            s.raw("if [ -f \(Q.q(path)) ]; then printf '%s\\n' \(Q.q("@@tetra:file " + mark + " " + rel)); cat \(Q.q(path)); "
                  + "printf '\\n%s\\n' \(Q.q("@@tetra:eof " + mark)); else printf '%s\\n' \(Q.q("@@tetra:missing " + mark + " " + rel)); fi")
        }
        return s
    }

    /// sha256sum of every regular file of a release; other non-directories are listed.
    static func hashTree(_ p: RemotePaths, _ id: ReleaseID) -> RemoteScript {
        var s = RemoteScript()
        s.raw("if [ ! -d \(Q.q(p.release(id))) ]; then echo @@tetra:no-release; exit 0; fi")
        s.raw("if ! command -v sha256sum >/dev/null 2>&1; then echo @@tetra:no-sha256sum; exit 0; fi")
        s.raw("cd \(Q.q(p.release(id))) || exit 1")
        s.raw("echo @@tetra:hashes")
        s.raw("find . -type f -exec sha256sum {} + || exit 1")
        s.raw("find . ! -type f ! -type d -exec printf '@@tetra:special %s\\n' {} + || exit 1")
        s.raw("echo @@tetra:end")
        return s
    }

    /// Receives one tar batch on stdin into the partial directory.
    static func untar(into dir: String) -> RemoteScript {
        var s = RemoteScript()
        s.raw("mkdir -p \(Q.q(dir)) && tar -x -p -f - -C \(Q.q(dir))")
        return s
    }

    /// Sends a release as a tar stream on stdout.
    static func tarRelease(_ p: RemotePaths, _ id: ReleaseID) -> RemoteScript {
        var s = RemoteScript()
        s.raw("if [ ! -d \(Q.q(p.release(id))) ]; then echo \(Q.q("tetra: no release " + id.rawValue)) >&2; exit 4; fi")
        s.raw("tar -c -f - -C \(Q.q(p.release(id))) .")
        return s
    }
}

/// Parsing of the scripts' marker output.
enum RemoteOutput {
    /// Lines of stdout.
    static func lines(_ data: Data) -> [Substring] {
        String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
    }

    /// The state report (`@@tetra:state` ... `@@tetra:end`), or nil when absent.
    static func state(_ lines: [Substring]) -> TargetState? {
        guard let start = lines.firstIndex(of: "@@tetra:state") else { return nil }
        var state = TargetState()
        var entries: [String] = []
        var inEntries = false
        var ended = false
        for line in lines[(start + 1)...] {
            if line == "@@tetra:end" { ended = true; break }
            if line == "@@tetra:entries" { inEntries = true; continue }
            if inEntries {
                if !line.isEmpty { entries.append(String(line)) }
                continue
            }
            if line == "exists=yes" { state.exists = true }
            else if line == "rsync=yes" { state.remoteHasRsync = true }
            else if line == "sha256sum=yes" { state.remoteHasSha256sum = true }
            else if line.hasPrefix("current=") { state.currentLink = String(line.dropFirst(8)) }
        }
        guard ended else { return nil }
        state.classify(entries: entries)
        for line in lines where line.hasPrefix("@@tetra:cleanup-failed ") {
            state.cleanupProblems.append("could not remove \(line.dropFirst(23))")
        }
        return state
    }

    /// Splits `readFiles` output into files, byte-exact.
    static func files(_ data: Data, mark: String) -> [String: Data] {
        let bytes = [UInt8](data)
        let header = Array("@@tetra:file \(mark) ".utf8)
        let eof = Array("\n@@tetra:eof \(mark)\n".utf8)
        var out: [String: Data] = [:]
        var i = 0
        while let h = find(header, in: bytes, from: i) {
            guard let nl = bytes[(h + header.count)...].firstIndex(of: 0x0A) else { break }
            let name = String(decoding: bytes[(h + header.count)..<nl], as: UTF8.self)
            let contentStart = nl + 1
            guard let end = find(eof, in: bytes, from: contentStart) else { break }
            out[name] = Data(bytes[contentStart..<end])
            i = end + eof.count
        }
        return out
    }

    static func find(_ needle: [UInt8], in hay: [UInt8], from: Int) -> Int? {
        guard !needle.isEmpty, hay.count >= needle.count, from <= hay.count - needle.count else { return nil }
        let first = needle[0]
        var i = from
        let last = hay.count - needle.count
        while i <= last {
            if hay[i] == first {
                var j = 1
                while j < needle.count && hay[i + j] == needle[j] { j += 1 }
                if j == needle.count { return i }
            }
            i += 1
        }
        return nil
    }

    /// Parses `sha256sum` lines (`HASH  ./path`) into path → hash.
    static func hashes(_ lines: [Substring]) -> [String: String] {
        var out: [String: String] = [:]
        var inside = false
        for line in lines {
            if line == "@@tetra:hashes" { inside = true; continue }
            if line == "@@tetra:end" { break }
            guard inside else { continue }
            if line.hasPrefix("@@tetra:special ") {
                var path = line.dropFirst(16)
                if path.hasPrefix("./") { path = path.dropFirst(2) }
                out[String(path)] = "not-a-regular-file"
                continue
            }
            let b = Array(line.utf8)
            guard b.count > 66, b[64] == 0x20 else { continue }
            var path = Substring(String(decoding: b[66...], as: UTF8.self))
            if path.hasPrefix("./") { path = path.dropFirst(2) }
            out[String(path)] = String(decoding: b[0..<64], as: UTF8.self)
        }
        return out
    }

    /// rsync's `--stats` "Total bytes sent: 1,234" (separators vary with the locale).
    static func rsyncBytesSent(_ text: String) -> Int64? {
        rsyncNumber(text, label: "Total bytes sent:")
    }

    static func rsyncFilesTransferred(_ text: String) -> Int? {
        rsyncNumber(text, label: "Number of regular files transferred:").map { Int($0) }
    }

    static func rsyncNumber(_ text: String, label: String) -> Int64? {
        for line in text.split(separator: "\n") {
            let l = line.trimming(.whitespaces)
            guard l.hasPrefix(label) else { continue }
            let digits = l.dropFirst(label.count).prefix(while: { $0 != "(" }).filter { $0.isASCII && $0.isNumber }
            return Int64(digits)
        }
        return nil
    }
}

extension RemoteScripts {
    /// The delta step of an ssh deploy (see `SSHTransport.deltaDeploy`), run before the
    /// commit script in the same session: the new release is built in `<id>.partial` from the
    /// previous release (`cp -al`: hard links), the files in `removed` are unlinked, the tar
    /// stream on stdin (changed and added files, with their directories) is unpacked, the
    /// manifest is rebuilt from the previous one (`dropLines` out, `addLines` in) and must hash
    /// to `manifestHash`, the tree's shape and modes (`find -printf '%y %m %P'`, sorted) must
    /// hash to `shapeHash`, and every file must match the manifest (`sha256sum -c`: the changed
    /// and added files in the new release; the kept ones, hard links of the previous release's,
    /// there, in the background while the rest is built; `keepsFiles` false: none is kept). When any
    /// of this fails (a previous release that drifted, no GNU cp/find at the target), the
    /// partial is removed and `@@tetra:delta-fallback REASON` printed: nothing was changed,
    /// and tetra sends the release the usual way.
    static func deltaPrepare(_ p: RemotePaths, release id: ReleaseID, previous: ReleaseID, removed: [String], dropLines: String,
                             addLines: String, manifestHash: String, shapeHash: String, hasTar: Bool,
                             keepsFiles: Bool = true) -> RemoteScript {
        var s = RemoteScript()
        let partial = p.partial(id)
        let manifest = partial + "/" + ReleaseManifest.fileName
        s.raw("P=\(Q.q(partial))")
        // The changed manifest lines, once each in the script (each is used twice).
        s.raw("D=\(Q.q(dropLines))")
        s.raw("A=\(Q.q(addLines))")
        s.raw("fallback() { rm -rf \"$P\"; echo \"@@tetra:delta-fallback $1\"; exit 0; }")
        s.raw("[ -d \(Q.q(p.release(previous))) ] || fallback no-previous")
        if keepsFiles {
            // The files the new release keeps are hard links to the previous release's: they are
            // checked there, against its manifest, in the background while the release is built
            // (stdin from /dev/null: the tar stream is not its to read).
            s.raw("( cd \(Q.q(p.release(previous))) && printf '%s' \"$D\" | grep -v -x -F -f - \(Q.q(ReleaseManifest.fileName)) "
                  + "| sha256sum --quiet -c - ) </dev/null >/dev/null 2>&1 & kept=$!")
        }
        s.raw("rm -rf \"$P\" && cp -al \(Q.q(p.release(previous))) \"$P\" 2>/dev/null || fallback cp-al")
        s.raw("rm -f \"$P\"/\(Q.q(ReleaseManifest.fileName)) \"$P\"/\(Q.q(ReleaseManifest.metadataFileName)) || fallback rm")
        if !removed.isEmpty {
            s.raw("printf '%s\\n' \(Q.q(removed.joined(separator: "\n"))) | while IFS= read -r f; do rm -f \"$P/$f\" || exit 1; "
                  // directories the removed files leave empty go too (as in a fresh upload)
                  + "d=${f%/*}; while [ \"$d\" != \"$f\" ] && rmdir \"$P/$d\" 2>/dev/null; do f=$d; d=${d%/*}; done; "
                  + "done || fallback rm")
        }
        if hasTar {
            s.raw("tar -x -p -f - -C \"$P\" || fallback tar")
        }
        s.raw("s=$(find \"$P\" -mindepth 1 \\( -type f -o -type d \\) -printf '%y %m %P\\n' 2>/dev/null | LC_ALL=C sort | sha256sum) || fallback find")
        s.raw("[ \"${s%% *}\" = \(Q.q(shapeHash)) ] || fallback shape")
        s.raw("{ printf '%s' \"$D\" | grep -v -x -F -f - \(Q.q(p.release(previous) + "/" + ReleaseManifest.fileName)); "
              + "printf '%s' \"$A\"; } | LC_ALL=C sort -t ' ' -k3 > \(Q.q(manifest)) || fallback manifest")
        s.raw("m=$(sha256sum < \(Q.q(manifest))) || fallback manifest")
        s.raw("[ \"${m%% *}\" = \(Q.q(manifestHash)) ] || fallback manifest")
        // The changed and added files are checked in the new release; the kept ones were
        // checked in the previous one (the same inodes).
        if !addLines.isEmpty {
            s.raw("(cd \"$P\" && printf '%s' \"$A\" | sha256sum --quiet -c - >/dev/null 2>&1) || fallback verify")
        }
        if keepsFiles {
            s.raw("wait \"$kept\" || fallback verify")
        }
        s.raw("echo @@tetra:delta-ready")
        return s
    }
}
