import Foundation
import XCTest
import TetraCore

/// The deploy benchmark (bench/deploy-bench.sh runs it in release mode with TETRA_BENCH=1):
/// an org-like tree of 10,000 small files, deployed to a local target and over loopback ssh,
/// first deploy and a deploy with one changed file, against `rsync -a` of the same tree.
/// Times are wall-clock for the whole operation: building the manifest (hashing every file,
/// as a push does) plus the deploy; the rsync baseline is a whole rsync process.
final class DeployBench: XCTestCase {
    struct Row {
        var name: String
        var seconds: Double
        var bytes: Int64?
    }

    func testDeployBenchmark() throws {
        let env = ProcessInfo.processInfo.environment
        guard env["TETRA_BENCH"] == "1" else { throw XCTSkip("set TETRA_BENCH=1 (bench/deploy-bench.sh) to run the benchmark") }
        let count = Int(env["TETRA_BENCH_FILES"] ?? "") ?? 10_000
        let rsync = try requireTool("rsync")
        let sshd = try SSHServer()
        defer {
            sshd.stop()
            DeployFixture.removeTemporaryDirectories()
        }
        let tree = try DeployFixture.makeTree(files: count)
        var treeBytes: Int64 = 0
        for case let f as String in FileManager.default.enumerator(atPath: tree)! {
            treeBytes += Int64((try? FileManager.default.attributesOfItem(atPath: tree + "/" + f)[.size] as? Int) ?? 0)
        }
        let changed = tree + "/svc5/conf.d2/file5.conf"
        var rows: [Row] = []
        let runner = SystemProcessRunner(environment: env)
        let trace = StepTrace(enabled: env["TETRA_BENCH_TRACE"] == "1")

        func time<T>(_ body: () throws -> T) rethrows -> (T, Double) {
            let t = Monotonic.now()
            let r = try body()
            return (r, Monotonic.now() - t)
        }
        func touchOneFile(_ round: Int) throws {
            try "key_5 = \"changed \(round)\"\n".write(toFile: changed, atomically: false, encoding: .utf8)
        }
        /// Release ids have whole seconds: start each measured deploy in a new second (outside
        /// the measurement).
        func nextSecond() {
            let now = Date().timeIntervalSince1970
            Thread.sleep(forTimeInterval: now.rounded(.down) + 1.02 - now)
        }
        func deploy(_ m: ReleaseManager) throws -> DeployResult {
            trace.step("manifest")
            let manifest = try ReleaseManifest.build(from: tree)
            let id = ReleaseID(time: Date(), contentHash: manifest.contentHash)
            defer { trace.step("done") }
            return try m.deploy(renderedTree: tree, manifest: manifest, releaseId: id, metadata: DeployFixture.metadata())
        }
        let sshOpts = DeployFixture.sshOptions(sshd)
        let sshBase = ["ssh", "-o", "BatchMode=yes", "-i", sshd.clientKey, "-p", String(sshd.port)] + sshOpts.sshExtraOptions
        /// Ends a shared connection left by a previous step, so every measurement pays for its
        /// own ssh handshake (what a new `tetra` process would).
        func closeMasters() {
            if let dir = SSHCommand.controlDirectory(temporaryDirectory: env["TMPDIR"]) {
                _ = try? runner.run(ProcessRequest("ssh", ["-o", "ControlPath=\(dir)/%C", "-p", String(sshd.port), "-O", "exit",
                                                          "\(sshd.user)@127.0.0.1"]))
            }
        }

        // Local target.
        let local = DeployFixture.tempDir("bench-local") + "/prod"
        let lm = ReleaseManager(target: try DeployTarget.parse(local), context: DeployFixture.context(progress: trace))
        try "key_5 = 0\n".write(toFile: changed, atomically: false, encoding: .utf8)
        var (r, s) = try time { try deploy(lm) }
        rows.append(Row(name: "local: first deploy", seconds: s, bytes: r.transfer.bytesSent))
        try touchOneFile(1)
        nextSecond()
        (r, s) = try time { try deploy(lm) }
        rows.append(Row(name: "local: one file changed (\(r.transfer.filesLinked ?? 0) hard links)", seconds: s, bytes: r.transfer.bytesSent))

        // Baseline: rsync -a to a local directory.
        let baseLocal = DeployFixture.tempDir("bench-rsync-local")
        try touchOneFile(2)
        var (res, t) = try time { try runner.runChecked(ProcessRequest(rsync, ["-a", "--stats", tree + "/", baseLocal + "/"])) }
        rows.append(Row(name: "rsync -a local: first", seconds: t, bytes: Self.bytesSent(res.stdoutString)))
        try touchOneFile(3)
        (res, t) = try time { try runner.runChecked(ProcessRequest(rsync, ["-a", "--stats", tree + "/", baseLocal + "/"])) }
        rows.append(Row(name: "rsync -a local: one file changed", seconds: t, bytes: Self.bytesSent(res.stdoutString)))

        // Over ssh: rsync transfer, then the tar fallback.
        for transfer in [TransportOptions.Transfer.rsync, .tar] {
            let dir = DeployFixture.tempDir("bench-ssh") + "/prod"
            var options = sshOpts
            options.transfer = transfer
            let m = ReleaseManager(target: try DeployFixture.sshTarget(sshd, path: dir),
                                   context: DeployFixture.context(progress: trace), options: options)
            closeMasters()
            try touchOneFile(10)
            (r, s) = try time { try deploy(m) }
            rows.append(Row(name: "ssh \(transfer.rawValue): first deploy", seconds: s, bytes: r.transfer.bytesSent))
            closeMasters()
            try touchOneFile(11)
            nextSecond()
            (r, s) = try time { try deploy(m) }
            rows.append(Row(name: "ssh \(transfer.rawValue): one file changed", seconds: s, bytes: r.transfer.bytesSent))
            XCTAssertEqual(try DeployFixture.assertCurrentComplete(dir), r.release.rawValue)
        }
        closeMasters()

        // Baseline: rsync -a over the same ssh.
        let baseRemote = DeployFixture.tempDir("bench-rsync-ssh")
        let e = sshBase.joined(separator: " ")
        try touchOneFile(20)
        (res, t) = try time {
            try runner.runChecked(ProcessRequest(rsync, ["-a", "--stats", "-e", e, tree + "/", "\(sshd.user)@127.0.0.1:\(baseRemote)/"]))
        }
        rows.append(Row(name: "rsync -a ssh: first", seconds: t, bytes: Self.bytesSent(res.stdoutString)))
        try touchOneFile(21)
        (res, t) = try time {
            try runner.runChecked(ProcessRequest(rsync, ["-a", "--stats", "-e", e, tree + "/", "\(sshd.user)@127.0.0.1:\(baseRemote)/"]))
        }
        rows.append(Row(name: "rsync -a ssh: one file changed", seconds: t, bytes: Self.bytesSent(res.stdoutString)))
        // Reference: the least an atomic release needs from rsync alone, a new directory
        // hard-linked to the previous one (no lock, no switch, no history).
        let linkBase = DeployFixture.tempDir("bench-rsync-linkdest")
        _ = try runner.runChecked(ProcessRequest(rsync, ["-a", "-e", e, tree + "/", "\(sshd.user)@127.0.0.1:\(linkBase)/r1/"]))
        try touchOneFile(22)
        (res, t) = try time {
            try runner.runChecked(ProcessRequest(rsync, ["-a", "--stats", "-e", e, "--link-dest=../r1", tree + "/",
                                                        "\(sshd.user)@127.0.0.1:\(linkBase)/r2/"]))
        }
        rows.append(Row(name: "rsync -a --link-dest ssh: one file changed", seconds: t, bytes: Self.bytesSent(res.stdoutString)))

        // Manifest alone (hashing the tree), for reference.
        let (_, hashTime) = try time { try ReleaseManifest.build(from: tree) }

        var report = "deploy benchmark: \(count + 2) files, \(treeBytes / 1024) KiB, \(ProcessInfo.processInfo.activeProcessorCount) cores\n"
        report += "(manifest of the whole tree alone: \(String(format: "%.3f", hashTime)) s)\n"
        func pad(_ s: String, _ n: Int, left: Bool = false) -> String {
            let fill = String(repeating: " ", count: max(0, n - s.count))
            return left ? fill + s : s + fill
        }
        report += pad("operation", 46) + pad("seconds", 9, left: true) + pad("bytes sent", 14, left: true) + "\n"
        for row in rows {
            report += pad(row.name, 46) + pad(String(format: "%.3f", row.seconds), 9, left: true)
                + pad(row.bytes.map { "\($0)" } ?? "-", 14, left: true) + "\n"
        }
        print("\n" + report)
        if let out = env["TETRA_BENCH_OUT"] { try report.write(toFile: out, atomically: true, encoding: .utf8) }
    }

    static func bytesSent(_ stats: String) -> Int64? {
        for line in stats.split(separator: "\n") where line.hasPrefix("Total bytes sent:") {
            return Int64(line.dropFirst(17).filter { $0.isNumber })
        }
        return nil
    }
}

/// Prints each progress step with the time since the previous one (TETRA_BENCH_TRACE=1).
final class StepTrace: ProgressSink, @unchecked Sendable {
    let enabled: Bool
    private let lock = NSLock()
    private var last = Monotonic.now()
    init(enabled: Bool) { self.enabled = enabled }
    func step(_ message: String) {
        guard enabled else { return }
        lock.lock(); defer { lock.unlock() }
        let now = Monotonic.now()
        print(String(format: "  +%.3f s  ", now - last) + message)
        last = now
    }
    func progress(_ label: String, done: Int, total: Int?) {}
    func warn(_ message: String) { if enabled { print("  warning: " + message) } }
}
