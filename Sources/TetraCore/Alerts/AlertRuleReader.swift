import FoundationEssentials

/// Reads one `[[alerts]]` table, reporting every problem of it through `at`.
struct AlertRuleReader {
    let table: TOMLTable
    let base: [String]
    let at: AlertConfigReader.At
    /// False once a problem was reported: no rule is made.
    var ok = true

    init(table: TOMLTable, base: [String], at: @escaping AlertConfigReader.At) {
        self.table = table
        self.base = base
        self.at = at
    }

    static let keys = ["name", "service", "domain", "when", "for", "repeat", "notify", "severity"]

    mutating func problem(_ key: [String], _ message: String, offset: Int? = nil) {
        ok = false
        at(base + key, message, offset)
    }

    mutating func rule(org: String?, file: String, services: [String]?, notifiers: Set<String>) -> AlertRule? {
        for key in table.keys where !Self.keys.contains(key) {
            problem([key], "unknown key '\(Names.printable(key))'" + (Suggest.didYouMean(key, in: Self.keys).map { " (\($0))" } ?? "")
                    + "; a rule has " + Self.keys.joined(separator: ", "), offset: AlertConfigReader.keyOffset)
        }
        let name = self.name()
        let condition = self.condition()
        let forSeconds = duration("for") ?? 0
        let repeatSeconds = duration("repeat")
        if let r = repeatSeconds, r <= 0 { problem(["repeat"], "must be longer than 0 (leave it out to send once)") }
        let target = self.target(condition, services: services)
        let notify = self.notify(notifiers)
        let severity = string("severity") ?? AlertRule.defaultSeverity
        if let reason = Names.problem(with: severity) { problem(["severity"], "invalid severity: \(reason)") }
        guard ok, let condition else { return nil }
        return AlertRule(name: name, org: org, target: target, condition: condition, forSeconds: forSeconds,
                         repeatSeconds: repeatSeconds, notify: notify, severity: severity, file: file)
    }

    mutating func string(_ key: String) -> String? {
        guard let v = table[key] else { return nil }
        guard let s = v.stringValue else { problem([key], "must be a string, not \(v.typeName)"); return nil }
        return s
    }

    mutating func name() -> String {
        let name = string("name") ?? ""
        if table["name"] == nil { problem(["name"], "a rule needs a name") } else if let reason = Names.problem(with: name) {
            problem(["name"], "invalid rule name: \(reason)")
        }
        return name
    }

    mutating func condition() -> AlertCondition? {
        guard let when = string("when") else {
            if table["when"] == nil { problem(["when"], "a rule needs a condition, e.g. when = \"cpu > 80%\"") }
            return nil
        }
        do { return try AlertCondition.parse(when) } catch {
            problem(["when"], error.message, offset: error.offset)
            return nil
        }
    }

    mutating func duration(_ key: String) -> TimeInterval? {
        guard let text = string(key) else { return nil }
        guard let d = try? DurationValue.parse(text) else {
            problem([key], "invalid duration '\(Names.printable(text))' (expected e.g. 30s, 2m, 4h)")
            return nil
        }
        return d.seconds
    }

    /// `service` (a service rule) or `domain` (a `cert_days_left` rule); `*` when absent.
    mutating func target(_ condition: AlertCondition?, services: [String]?) -> String {
        var target = "*"
        let isCert = condition?.measure == .cert_days_left
        if let s = string("service") {
            target = s
            if isCert && s != "*" {
                problem(["service"], "a cert_days_left rule is about certificates: name one with domain = \"...\"")
            } else if s != "*", let reason = Names.problem(with: s) {
                problem(["service"], "invalid service name: \(reason)")
            } else if s != "*", let services, !services.contains(s) {
                problem(["service"], "no service '\(Names.printable(s))' in services/" + (Suggest.didYouMean(s, in: services).map { " (\($0))" } ?? ""))
            }
        }
        if let d = string("domain") {
            if condition != nil && !isCert {
                problem(["domain"], "only a cert_days_left rule names a domain (use service = \"...\")")
            } else if d != "*", (try? Names.validateDomain(d, allowWildcard: true)) == nil {
                problem(["domain"], "invalid domain '\(Names.printable(d))'")
            } else {
                target = d.lowercased()
            }
        }
        return target
    }

    mutating func notify(_ notifiers: Set<String>) -> [String] {
        guard let value = table["notify"] else {
            problem(["notify"], "a rule needs notify = [\"NOTIFIER\", ...]")
            return []
        }
        guard let items = value.arrayValue else {
            problem(["notify"], "must be an array of notifier names, not \(value.typeName)")
            return []
        }
        if items.isEmpty { problem(["notify"], "names no notifier (notify = [\"ops\"])") }
        var names: [String] = []
        for (i, item) in items.enumerated() {
            guard let n = item.stringValue else { problem(["notify", String(i)], "must be a notifier's name (a string)"); continue }
            if !notifiers.contains(n) {
                problem(["notify", String(i)], "unknown notifier '\(Names.printable(n))'"
                        + (Suggest.didYouMean(n, in: Array(notifiers)).map { " (\($0))" } ?? "")
                        + (notifiers.isEmpty ? "; define it as [notifiers.\(Names.printable(n))]"
                           : "; notifiers: " + notifiers.sorted().joined(separator: ", ")))
            }
            names.append(n)
        }
        return names
    }
}
