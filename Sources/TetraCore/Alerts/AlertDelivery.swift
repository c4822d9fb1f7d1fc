import FoundationEssentials
import Glibc

/// Whether a notification reached a notifier: `delivered` (HTTP 2xx, or the command exited
/// 0) or `failed` (after every attempt).
public enum AlertDeliveryResult: String, Sendable, Equatable, Codable {
    case delivered, failed
}

/// One notifier's delivery of one notification, as recorded in the history.
public struct AlertDeliveryRecord: Codable, Sendable, Equatable {
    public var notifier: String
    /// Absent when the notification never reached a notifier (a full queue).
    public var kind: AlertNotifierKind?
    public var result: AlertDeliveryResult
    public var attempts: Int
    /// Why the last attempt failed (`HTTP 500`, `exit status 3`): never the URL.
    public var error: String?
}

/// One line of `state/alerts/history.jsonl`: a notification and what became of it.
public struct AlertHistoryEntry: Codable, Sendable, Equatable {
    public var time: String
    public var alert: String
    public var org: String?
    public var service: String?
    public var domain: String?
    public var host: String
    public var status: AlertEventStatus
    public var value: String?
    /// `delivered` when every notifier got it, else `failed`.
    public var result: AlertDeliveryResult
    public var deliveries: [AlertDeliveryRecord]

    public static func path(_ paths: StatePaths) -> String { AlertSubjectFile.directory(paths) + "/history.jsonl" }
}

/// Sends notifications through a rule's notifiers, synchronously: each notifier is tried
/// `attempts` times with a backoff (1s, 2s, 4s ...) between, and the outcome is appended to
/// the history. A webhook is POSTed by `curl` (argv without the URL: curl reads it from its
/// config on stdin); a command gets the JSON on stdin.
public struct AlertDelivery: AlertDispatching {
    public let core: CoreContext
    public let rules: AlertRuleSet
    public var attempts = 3
    /// The wait before attempt 2, doubled for each next one.
    public var backoff: TimeInterval = 1
    /// Per attempt: curl's `--max-time`, a command's timeout.
    public var timeout: TimeInterval = 10
    public var sleep: @Sendable (TimeInterval) -> Void = { Threads.sleep($0) }

    public init(core: CoreContext, rules: AlertRuleSet) {
        self.core = core
        self.rules = rules
    }

    public func send(_ event: AlertEvent) { _ = deliver(event) }

    /// Delivers `event` to every notifier of its rule, records it, and returns the record.
    @discardableResult
    public func deliver(_ event: AlertEvent) -> AlertHistoryEntry {
        var records: [AlertDeliveryRecord] = []
        for name in event.rule.notify {
            guard let notifier = rules.notifier(name, for: event.rule) else {
                records.append(AlertDeliveryRecord(notifier: name, kind: nil, result: .failed, attempts: 0, error: "no notifier \(name)"))
                continue
            }
            records.append(deliver(event, to: notifier))
        }
        let entry = AlertHistoryEntry(time: Timestamps.iso8601(event.time), alert: event.rule.name, org: event.org, service: event.service,
                                      domain: event.domain, host: event.host, status: event.status, value: event.value,
                                      result: records.allSatisfy { $0.result == .delivered } ? .delivered : .failed, deliveries: records)
        record(entry)
        return entry
    }

    func record(_ entry: AlertHistoryEntry) {
        let path = AlertHistoryEntry.path(core.paths)
        do {
            try AtomicFile.ensureDirectory(PathText.parent(path), mode: 0o700)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            try AtomicFile.appendLine(String(decoding: try encoder.encode(entry), as: UTF8.self), to: path, mode: 0o600)
        } catch {
            core.progress.warn("alerts: cannot record the history: \((error as? any TetraError)?.message ?? "\(error)")")
        }
    }

    /// One notifier, with retries.
    func deliver(_ event: AlertEvent, to notifier: AlertNotifier) -> AlertDeliveryRecord {
        let body = AlertPayload(event, receiver: notifier.name).encoded()
        var error: String? = nil
        var attempt = 0
        while attempt < max(1, attempts) {
            if attempt > 0 { sleep(backoff * Double(1 << (attempt - 1))) }
            attempt += 1
            error = once(event, notifier, body: body)
            if error == nil { break }
            if core.interrupt.isRaised { break }
        }
        return AlertDeliveryRecord(notifier: notifier.name, kind: notifier.kindName, result: error == nil ? .delivered : .failed,
                                   attempts: attempt, error: error)
    }

    /// One attempt: nil when delivered, else why not (never with the URL in it).
    func once(_ event: AlertEvent, _ notifier: AlertNotifier, body: Data) -> String? {
        switch notifier.kind {
        case .webhook(let template):
            let url: String
            do {
                var secrets: [String: String] = [:]
                if template.contains("{{") {
                    // A rule across orgs reads the secrets of the org its alert is about.
                    guard let org = notifier.org ?? event.org else { return "no org to read the webhook's secrets from" }
                    // Plaintext and encrypted (age) secrets alike, decrypted in memory only.
                    secrets = try OrgSecrets(paths: core.paths, org: org, age: .system()).values(env: nil)
                }
                url = try notifier.webhookURL(secrets: secrets)
            } catch {
                return (error as? any TetraError)?.message ?? "the webhook does not render"
            }
            return post(url, body: body)
        case .command(let argv):
            return command(argv, directory: notifier.directory, event: event, body: body)
        }
    }

    /// The curl argv for a webhook: no URL in it (curl reads `url = "..."` from `-K -`, its
    /// config on stdin), the body from `bodyFile`.
    public func curlArguments(bodyFile: String) -> [String] {
        ["--silent", "--show-error", "--http1.1", "--max-time", String(Int(timeout)), "--proto", "=https,http",
         "--user-agent", "tetra-alerts/1", "--header", "Content-Type: application/json", "--request", "POST",
         "--data-binary", "@" + bodyFile, "--output", "/dev/null", "--write-out", "%{http_code}", "--config", "-"]
    }

    /// The curl config carrying the URL (quoted for curl's config syntax).
    static func curlConfig(url: String) -> Data {
        let escaped = url.replacingAll("\\", with: "\\\\").replacingAll("\"", with: "\\\"")
        return Data("url = \"\(escaped)\"\n".utf8)
    }

    func post(_ url: String, body: Data) -> String? {
        guard !url.contains("\n"), !url.contains("\r") else { return "the webhook URL has a line break" }
        let outbox = AlertSubjectFile.directory(core.paths) + "/_outbox"
        let bodyFile = outbox + "/" + AtomicFile.randomHex(8) + ".json"
        do {
            try AtomicFile.ensureDirectory(outbox, mode: 0o700)
            Self.sweep(outbox, olderThan: 600)
            try AtomicFile.write(body, to: bodyFile, mode: 0o600, durable: false)
        } catch {
            return "cannot write the body: \((error as? any TetraError)?.message ?? "\(error)")"
        }
        defer { unlink(bodyFile) }
        var request = ProcessRequest("curl", curlArguments(bodyFile: bodyFile), input: Self.curlConfig(url: url),
                                     timeout: timeout + 5, outputLimit: 4096, secrets: [url])
        request.environment = ["LC_ALL": "C"]
        let result: ProcessResult
        do { result = try core.runner.run(request) } catch { return "curl is not installed" }
        if result.timedOut { return "no answer within \(Int(timeout))s" }
        let code = Int(result.stdoutString.trimming(.whitespacesAndNewlines)) ?? 0
        guard result.status == 0 else { return Self.curlProblem(result.status) }
        return (200..<300).contains(code) ? nil : "HTTP \(code)"
    }

    /// Bodies left by a run that was killed while curl ran (they hold no secret).
    static func sweep(_ outbox: String, olderThan age: TimeInterval) {
        let now = TimeInterval(time(nil))  // the clock of file times
        for name in ((try? LocalFiles.list(outbox)) ?? nil ?? []) where name.hasSuffix(".json") {
            var st = stat()
            let path = outbox + "/" + name
            if lstat(path, &st) == 0, now - TimeInterval(st.st_mtim.tv_sec) > age { unlink(path) }
        }
    }

    /// curl's exit status in words (its stderr may name the URL: never recorded).
    static func curlProblem(_ status: Int32) -> String {
        switch status {
        case 6: return "curl: could not resolve the host (exit 6)"
        case 7: return "curl: could not connect (exit 7)"
        case 28: return "curl: timed out (exit 28)"
        case 35, 60, 77: return "curl: TLS failed (exit \(status))"
        case 52: return "curl: empty reply (exit 52)"
        case 56: return "curl: connection reset (exit 56)"
        default: return "curl exit status \(status)"
        }
    }

    func command(_ argv: [String], directory: String, event: AlertEvent, body: Data) -> String? {
        var program = argv[0]
        if !program.hasPrefix("/") && program.contains("/") { program = PathText.standardized(directory + "/" + program) }
        var request = ProcessRequest(program, Array(argv.dropFirst()), input: body, timeout: timeout, outputLimit: 16 << 10)
        request.workingDirectory = directory
        request.environment = ["TETRA_ALERT": event.rule.name, "TETRA_ALERT_STATUS": event.status.rawValue]
        let result: ProcessResult
        do { result = try core.runner.run(request) } catch {
            return "cannot run \(Names.printable(argv[0])): \((error as? any TetraError)?.message ?? "\(error)")"
        }
        if result.timedOut { return "timed out after \(Int(timeout))s" }
        return result.status == 0 ? nil : "exit status \(result.status)"
    }
}
