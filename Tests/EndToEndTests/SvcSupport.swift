import Foundation
import XCTest

/// A state root with one org ("acme") for service tests, and the clean-up every service test
/// needs: `svc stop --all`, then SIGKILL to anything left of the supervisors and services
/// this state root started (found through their state files and /proc).
final class SvcFixture {
    let t: Tetra
    let org = "acme"
    var root: String { t.stateRoot }

    init() throws {
        t = Tetra()
        XCTAssertEqual(try t.run(["init"]).status, 0)
        try FileManager.default.createDirectory(atPath: root + "/orgs/acme/services", withIntermediateDirectories: true)
        try "[org]\nname = \"acme\"\n".write(toFile: root + "/orgs/acme/org.toml", atomically: true, encoding: .utf8)
    }

    @discardableResult
    func svc(_ args: [String], env: [String: String] = [:]) throws -> Tetra.Result {
        try t.run(["svc"] + args + ["--org", org], env: env)
    }

    func write(_ name: String, _ toml: String) throws {
        try toml.write(toFile: root + "/orgs/acme/services/\(name).toml", atomically: true, encoding: .utf8)
    }

    /// A free port registered under `name`.
    func allocatePort(_ name: String) throws -> Int {
        let r = try t.run(["ports", "allocate", name, "--range", "development", "--lock-wait", "30s"])
        XCTAssertEqual(r.status, 0, r.stderr)
        return Int(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }

    func status(_ name: String) throws -> [String: Any] {
        let r = try svc(["status", name, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        return (try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]) ?? [:]
    }

    func record(_ name: String) -> [String: Any] {
        guard let data = FileManager.default.contents(atPath: root + "/state/services/acme/\(name)/state.json") else { return [:] }
        return (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
    }

    /// Polls `condition` every 50ms until it holds or `timeout` passes.
    @discardableResult
    func wait(_ timeout: TimeInterval, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try condition() { return true }
            usleep(50_000)
        }
        return try condition()
    }

    /// Pids whose command line mentions this state root (supervisors get `--dir ROOT`).
    func processesMentioningRoot() -> [Int32] {
        Proc.all().filter { Proc.cmdline($0).contains(root) }
    }

    /// Every pid recorded in any state file of this root (services and supervisors).
    func recordedPIDs() -> [Int32] {
        var out: [Int32] = []
        let base = root + "/state/services/acme"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? [] {
            let rec = record(name)
            for key in ["process", "supervisor"] {
                if let p = rec[key] as? [String: Any], let pid = p["pid"] as? Int { out.append(Int32(pid)) }
            }
        }
        return out
    }

    func cleanUp() {
        _ = try? svc(["stop", "--all"])
        for pid in recordedPIDs() {
            kill(-pid, SIGKILL)
        }
        for pid in processesMentioningRoot() {
            kill(pid, SIGKILL)
        }
        try? FileManager.default.removeItem(atPath: root)
    }
}

/// /proc helpers for the tests.
enum Proc {
    static func all() -> [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { Int32($0) }
    }

    static func cmdline(_ pid: Int32) -> String {
        guard let d = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return "" }
        return String(decoding: d.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
    }

    /// Fields after the command of /proc/<pid>/stat: [state, ppid, pgrp, session, ...].
    static func stat(_ pid: Int32) -> [String]? {
        guard let d = FileManager.default.contents(atPath: "/proc/\(pid)/stat") else { return nil }
        let line = String(decoding: d, as: UTF8.self)
        guard let close = line.lastIndex(of: ")") else { return nil }
        return line[line.index(after: close)...].split(separator: " ").map(String.init)
    }

    /// Alive and not a zombie.
    static func alive(_ pid: Int32) -> Bool {
        guard let s = stat(pid) else { return false }
        return s[0] != "Z" && s[0] != "X"
    }

    static func group(_ pgid: Int32) -> [Int32] {
        all().filter { pid in
            guard let s = stat(pid), s.count > 2 else { return false }
            return s[0] != "Z" && Int32(s[2]) == pgid
        }
    }
}
