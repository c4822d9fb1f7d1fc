import FoundationEssentials

/// Reads `[[alerts]]` and `[notifiers.NAME]` from a parsed TOML document, every problem at
/// its `path:line:column` (a problem in `when` at the column of the offending word).
enum AlertConfigReader {
    struct Result {
        var rules: [AlertRule] = []
        var notifiers: [String: AlertNotifier] = [:]
        var problems: [ConfigProblem] = []
        /// Every notifier defined, valid or not (a rule naming an invalid one is not also wrong).
        var notifierNames: Set<String> = []
        /// Not wrong, but worth saying (a webhook URL written in the file, not in a secret).
        var warnings: [ConfigProblem] = []
    }

    static let notifierKeys = ["webhook", "command"]

    /// `config/alerts.toml` (none: no rule).
    static func readGlobal(paths: StatePaths) -> Result {
        let file = AlertRuleSet.globalFile(paths)
        var problems: [ConfigProblem] = []
        let display = "config/alerts.toml"
        guard LocalFiles.exists(file) else { return Result() }
        guard let document = OrgValidator.readDocument(file, display: display, problems: &problems) else {
            return Result(problems: problems)
        }
        return read(document, file: display, org: nil, directory: paths.config, services: nil, globalNotifiers: [], secrets: nil)
    }

    /// The rules and notifiers of `document`. `services`: the org's services (a rule naming
    /// another is a problem; nil: not checked). `globalNotifiers`: names a rule may also use.
    /// `secrets`: the org's secrets (a webhook template naming another is a problem; nil: not
    /// checked).
    static func read(_ document: TOMLDocument, file: String, org: String?, directory: String, services: [String]?,
                     globalNotifiers: Set<String>, secrets: [String: String]?) -> Result {
        var result = Result()
        func at(_ path: [String], _ message: String, offset: Int? = nil) {
            result.problems.append(ConfigProblem(file: file, position: position(document, path, offset: offset),
                                                 keyPath: path.joined(separator: "."), message: message))
        }
        let table = document.table
        if let value = table["notifiers"] {
            if let notifiers = value.tableValue {
                for (name, entry) in notifiers {
                    result.notifierNames.insert(name)
                    if let n = readNotifier(name, entry, org: org, directory: directory, secrets: secrets, at: at) {
                        result.notifiers[name] = n
                        if case .webhook(let url) = n.kind, !url.contains("{{") {
                            result.warnings.append(ConfigProblem(file: file, position: position(document, ["notifiers", name, "webhook"], offset: nil),
                                                                 keyPath: "notifiers.\(name).webhook",
                                                                 message: "a webhook URL written here is snapshotted and pushed with the org; keep it in secrets.env: webhook = \"{{ secrets.NAME }}\""))
                        }
                    }
                }
            } else {
                at(["notifiers"], "must be a table of notifiers ([notifiers.NAME]), not \(value.typeName)")
            }
        }
        guard let value = table["alerts"] else { return result }
        guard let items = value.arrayValue else {
            at(["alerts"], "must be an array of tables ([[alerts]]), not \(value.typeName)")
            return result
        }
        let known = result.notifierNames.union(globalNotifiers)
        var seen: Set<String> = []
        for (i, item) in items.enumerated() {
            let base = ["alerts", String(i)]
            guard let t = item.tableValue else {
                at(base, "must be a table ([[alerts]]), not \(item.typeName)")
                continue
            }
            guard let rule = readRule(t, base: base, org: org, file: file, services: services, notifiers: known, at: at) else { continue }
            if !seen.insert(rule.name).inserted {
                at(base + ["name"], "a second rule named '\(rule.name)' (names are unique in a file)")
                continue
            }
            result.rules.append(rule)
        }
        return result
    }

    typealias At = (_ path: [String], _ message: String, _ offset: Int?) -> Void
    /// The offset that asks for the position of the key rather than of its value.
    static let keyOffset = -1

    static func readRule(_ t: TOMLTable, base: [String], org: String?, file: String, services: [String]?,
                         notifiers: Set<String>, at: @escaping At) -> AlertRule? {
        var reader = AlertRuleReader(table: t, base: base, at: at)
        return reader.rule(org: org, file: file, services: services, notifiers: notifiers)
    }

    static func readNotifier(_ name: String, _ value: TOMLValue, org: String?, directory: String, secrets: [String: String]?,
                             at: At) -> AlertNotifier? {
        let base = ["notifiers", name]
        if let reason = Names.problem(with: name) { at(base, "invalid notifier name: \(reason)", nil); return nil }
        guard let t = value.tableValue else { at(base, "must be a table with webhook = \"URL\" or command = [...]", nil); return nil }
        var ok = true
        for key in t.keys where !notifierKeys.contains(key) {
            ok = false
            at(base + [key], "unknown key '\(Names.printable(key))'; a notifier has webhook = \"URL\" or command = [\"program\", ...]", keyOffset)
        }
        switch (t["webhook"], t["command"]) {
        case (nil, nil):
            at(base, "needs webhook = \"URL\" or command = [\"program\", ...]", nil)
            return nil
        case (.some, .some):
            at(base, "has both webhook and command: a notifier is one of them", nil)
            return nil
        case (let w?, nil):
            guard let url = w.stringValue else { at(base + ["webhook"], "must be a string (a URL), not \(w.typeName)", nil); return nil }
            if let reason = webhookProblem(url, secrets: secrets) { at(base + ["webhook"], reason, nil); return nil }
            return ok ? AlertNotifier(name: name, kind: .webhook(url), org: org, directory: directory) : nil
        case (nil, let c?):
            guard let items = c.arrayValue else {
                at(base + ["command"], "must be an argv array such as [\"/usr/local/bin/page\", \"--team\", \"ops\"], not \(c.typeName)", nil)
                return nil
            }
            let argv = items.compactMap(\.stringValue)
            guard argv.count == items.count, let first = argv.first, !first.isEmpty else {
                at(base + ["command"], "must be a non-empty array of strings (an argv)", nil)
                return nil
            }
            return ok ? AlertNotifier(name: name, kind: .command(argv), org: org, directory: directory) : nil
        }
    }

    /// Why a webhook is not acceptable: not http(s), or a template that is not only
    /// `{{ secrets.NAME }}` references (of secrets that exist, when `secrets` is known).
    /// Messages name secrets, never show their values.
    static func webhookProblem(_ text: String, secrets: [String: String]?) -> String? {
        if text.contains("{{") {
            let template: Template
            do { template = try Template(source: text, name: "webhook") } catch { return "is not a valid template: \((error as? any TetraError)?.message ?? "\(error)")" }
            let roots = template.referencedVariables()
            if let other = roots.first(where: { $0 != "secrets" }) {
                return "a webhook template may use only secrets ({{ secrets.NAME }}), not '\(Names.printable(other))'"
            }
            guard let secrets else { return nil }
            let url: String
            do {
                url = try AlertNotifier(name: "", kind: .webhook(text), org: nil, directory: "").webhookURL(secrets: secrets)
            } catch {
                let names = Template.secretNames(in: text).filter { secrets[$0] == nil }
                return "secret" + (names.count == 1 ? " " : "s ") + names.joined(separator: ", ") + " not defined in secrets.env"
            }
            return url.hasPrefix("http://") || url.hasPrefix("https://") ? nil : "the rendered secret is not an http:// or https:// URL"
        }
        guard text.hasPrefix("http://") || text.hasPrefix("https://"), text.count > 8, !text.contains(" ") else {
            return "'\(Names.printable(text))' is not an http:// or https:// URL (or a template such as \"{{ secrets.OPS_WEBHOOK }}\")"
        }
        return nil
    }

    /// The position of `path`; for a problem inside a one-line string value, the column of
    /// the character `offset` of the string.
    static func position(_ document: TOMLDocument, _ path: [String], offset: Int?) -> SourcePosition? {
        if offset == keyOffset, let p = document.keyPosition(of: document.resolve(path)) { return p }
        guard var p = document.position(of: path) else {
            // A missing key: where its table is.
            return document.position(of: Array(path.dropLast())) ?? document.keyPosition(of: document.resolve(Array(path.dropLast())))
        }
        guard let offset, offset >= 0, let line = sourceLine(document, p.line) else { return p }
        let chars = Array(line)
        let start = p.column - 1
        guard start >= 0, start < chars.count, chars[start] == "\"" || chars[start] == "'" else { return p }
        let quote = chars[start]
        if start + 2 < chars.count, chars[start + 1] == quote, chars[start + 2] == quote { return p }
        // A basic string with an escape before the offset would shift columns: keep the value's.
        if quote == "\"", chars[(start + 1)..<min(chars.count, start + 1 + offset)].contains("\\") { return p }
        p.column += 1 + offset
        return p
    }

    static func sourceLine(_ document: TOMLDocument, _ number: Int) -> String? {
        var n = 1
        for line in document.bytes.split(separator: 0x0A, omittingEmptySubsequences: false) {
            if n == number { return String(decoding: line, as: UTF8.self) }
            n += 1
        }
        return nil
    }
}

extension Template {
    /// The `NAME`s of `{{ secrets.NAME }}` in a template text (for messages).
    static func secretNames(in text: String) -> [String] {
        var names: [String] = []
        var rest = text[...]
        while let r = rest.firstRange(ofLiteral: "secrets.") {
            let after = rest[r.upperBound...]
            let name = after.prefix { $0.isLetter || $0.isNumber || $0 == "_" }
            if !name.isEmpty { names.append(String(name)) }
            rest = after
        }
        return names
    }
}

extension AlertConfigReader {
    /// Whether an unknown-key warning of org.toml's decoder is about the alert rules' keys
    /// (read here, not unknown).
    static func owns(_ warning: ConfigProblem) -> Bool {
        let key = warning.keyPath ?? ""
        if key == "alerts" || key == "notifiers" || key.hasPrefix("alerts.") || key.hasPrefix("notifiers.") { return true }
        return key.isEmpty && (warning.message.hasPrefix("unknown key 'alerts'") || warning.message.hasPrefix("unknown key 'notifiers'"))
    }

    /// The problems of the rules and notifiers of an org's org.toml (`org validate`,
    /// `doctor`): keys, conditions, services and notifiers named, secrets of webhook templates.
    static func validate(_ document: TOMLDocument, file: String, org: String, paths: StatePaths, services: [String],
                         secrets: [String: String]) -> (problems: [ConfigProblem], warnings: [ConfigProblem]) {
        let global = readGlobal(paths: paths)
        let read = read(document, file: file, org: org, directory: paths.org(org), services: services,
                        globalNotifiers: global.notifierNames, secrets: secrets)
        return (read.problems, read.warnings)
    }
}
