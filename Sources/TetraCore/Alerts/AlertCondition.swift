import FoundationEssentials

/// What an alert rule measures (`when = "MEASURE OP VALUE"`, docs/alerts.md). A closed set:
/// an unknown word is a configuration problem (exit 3).
public enum AlertMeasure: String, Sendable, Equatable, CaseIterable, Codable {
    case cpu, memory, threads, open_files, restarts, probe_latency, health, state, cert_days_left

    /// Measures of a service, evaluated at each sample by its supervisor (and by
    /// `alerts check` for a service without one); `cert_days_left` is about certificates.
    public var isServiceMeasure: Bool { self != .cert_days_left }

    /// Measures compared with a word (`health == unhealthy`): only `==` and `!=`.
    public var isWord: Bool { self == .health || self == .state }

    /// The words a word measure accepts.
    public var words: [String] {
        switch self {
        case .health: return ["healthy", "unhealthy", "unknown", "none"]
        case .state: return ["stopped", "starting", "running", "unhealthy", "crashloop", "failed", "unknown"]
        default: return []
        }
    }

    /// How a value of this measure is written, for messages.
    var valueForm: String {
        switch self {
        case .cpu: return "a percentage such as 80%"
        case .memory: return "a size such as 500MB or 1GiB"
        case .threads, .open_files: return "a whole number such as 200"
        case .restarts: return "a whole number, optionally with a window: restarts > 3 in 10m"
        case .probe_latency: return "a duration such as 500ms or 2s"
        case .cert_days_left: return "a number of days such as 14 or 14d"
        case .health, .state: return "one of " + words.joined(separator: ", ")
        }
    }
}

/// The comparison of a rule (`>`, `>=`, `<`, `<=`, `==`, `!=`).
public enum AlertComparison: String, Sendable, Equatable, CaseIterable, Codable {
    case greater = ">", greaterOrEqual = ">=", less = "<", lessOrEqual = "<=", equal = "==", notEqual = "!="

    func holds(_ a: Double, _ b: Double) -> Bool {
        switch self {
        case .greater: return a > b
        case .greaterOrEqual: return a >= b
        case .less: return a < b
        case .lessOrEqual: return a <= b
        case .equal: return a == b
        case .notEqual: return a != b
        }
    }
}

/// A parsed `when`: `cpu > 80%`, `memory > 500MB`, `restarts > 3 in 10m`,
/// `health == unhealthy`, `probe_latency > 500ms`, `state == crashloop`, `cert_days_left < 14`.
/// Numbers are kept in one unit per measure: percent, bytes, count, milliseconds, days.
public struct AlertCondition: Sendable, Equatable, CustomStringConvertible {
    public var measure: AlertMeasure
    public var comparison: AlertComparison
    /// The threshold of a numeric measure (percent, bytes, count, ms, days).
    public var threshold: Double
    /// The word of `health`/`state`.
    public var word: String?
    /// `restarts > 3 in 10m`: the window, in seconds.
    public var window: TimeInterval?
    /// The value as written (`80%`, `500MB`, `crashloop`).
    public var valueText: String

    /// `cpu > 80%` (the canonical spelling, used in messages and annotations).
    public var description: String {
        var text = "\(measure.rawValue) \(comparison.rawValue) \(valueText)"
        if let window { text += " in \(DurationValue.format(window))" }
        return text
    }

    /// A problem of a `when` text: its message and the character offset (0-based) in the text.
    public struct Problem: Error, Sendable, Equatable {
        public var offset: Int
        public var message: String
    }

    /// Parses a `when` text. The problem names the offending word and where it starts.
    public static func parse(_ text: String) throws(Problem) -> AlertCondition {
        let tokens = tokenize(text)
        guard let first = tokens.first else {
            throw Problem(offset: 0, message: "empty condition (expected e.g. \"cpu > 80%\")")
        }
        guard let measure = AlertMeasure(rawValue: first.text) else {
            let known = AlertMeasure.allCases.map(\.rawValue)
            let suggestion = Suggest.didYouMean(first.text, in: known).map { " (\($0))" } ?? ""
            throw Problem(offset: first.offset, message: "unknown measure '\(Names.printable(first.text))'\(suggestion); measures: "
                          + known.joined(separator: ", "))
        }
        guard tokens.count >= 2 else {
            throw Problem(offset: text.count, message: "expected a comparison (> >= < <= == !=) after '\(measure.rawValue)'")
        }
        guard let comparison = AlertComparison(rawValue: tokens[1].text) else {
            throw Problem(offset: tokens[1].offset, message: "unknown comparison '\(Names.printable(tokens[1].text))' (expected > >= < <= == !=)")
        }
        if measure.isWord && comparison != .equal && comparison != .notEqual {
            throw Problem(offset: tokens[1].offset, message: "\(measure.rawValue) compares with == or != only, not \(comparison.rawValue)")
        }
        guard tokens.count >= 3 else {
            throw Problem(offset: text.count, message: "expected a value after '\(comparison.rawValue)': \(measure.valueForm)")
        }
        let value = tokens[2]
        var condition = AlertCondition(measure: measure, comparison: comparison, threshold: 0, word: nil, window: nil, valueText: value.text)
        if measure.isWord {
            guard measure.words.contains(value.text) else {
                throw Problem(offset: value.offset, message: "unknown \(measure.rawValue) '\(Names.printable(value.text))' (expected \(measure.valueForm))")
            }
            condition.word = value.text
        } else {
            guard let number = threshold(measure, value.text) else {
                throw Problem(offset: value.offset, message: "'\(Names.printable(value.text))' is not a valid \(measure.rawValue) value (expected \(measure.valueForm))")
            }
            condition.threshold = number
        }
        var rest = tokens.dropFirst(3)
        if measure == .restarts, let word = rest.first, word.text == "in" {
            rest = rest.dropFirst()
            guard let w = rest.first else {
                throw Problem(offset: text.count, message: "expected a window after 'in' (a duration such as 10m)")
            }
            guard let seconds = try? DurationValue.parse(w.text).seconds, seconds > 0 else {
                throw Problem(offset: w.offset, message: "invalid window '\(Names.printable(w.text))' (expected a duration such as 10m or 1h)")
            }
            condition.window = seconds
            rest = rest.dropFirst()
        }
        if let extra = rest.first {
            let hint = extra.text == "in" ? " (only restarts takes a window)" : ""
            throw Problem(offset: extra.offset, message: "unexpected '\(Names.printable(extra.text))' after the condition\(hint)")
        }
        return condition
    }

    /// The threshold in the measure's unit, nil when the text is not a value of it.
    static func threshold(_ measure: AlertMeasure, _ text: String) -> Double? {
        func number(_ t: Substring) -> Double? {
            guard !t.isEmpty, t.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }), let v = Double(t), v.isFinite else { return nil }
            return v
        }
        switch measure {
        case .cpu:
            guard text.hasSuffix("%") else { return nil }
            return number(text.dropLast())
        case .memory:
            // A unit is required: a bare 500 is ambiguous.
            guard text.last?.isLetter == true, text.first?.isNumber == true, let size = try? SizeValue.parse(text) else { return nil }
            return Double(size.bytes)
        case .threads, .open_files, .restarts:
            guard let v = number(text[...]), v == v.rounded() else { return nil }
            return v
        case .probe_latency:
            guard text.first?.isNumber == true, text.last?.isLetter == true, let d = try? DurationValue.parse(text) else { return nil }
            return d.seconds * 1000
        case .cert_days_left:
            let digits = text.hasSuffix("d") ? text.dropLast() : text[...]
            guard let v = number(digits), v == v.rounded() else { return nil }
            return v
        case .health, .state:
            return nil
        }
    }

    /// Splits on spaces; an operator is its own word even when written without spaces
    /// (`cpu>80%`). Offsets are in characters.
    static func tokenize(_ text: String) -> [(text: String, offset: Int)] {
        var out: [(text: String, offset: Int)] = []
        var current = ""
        var start = 0
        var isOperator = false
        func flush() {
            if !current.isEmpty { out.append((current, start)) }
            current = ""
        }
        for (i, ch) in text.enumerated() {
            if ch == " " || ch == "\t" {
                flush()
                continue
            }
            let op = "<>=!".contains(ch)
            if !current.isEmpty && op != isOperator { flush() }
            if current.isEmpty { start = i; isOperator = op }
            current.append(ch)
        }
        flush()
        return out
    }

    /// Whether the condition holds for `value` (nil: not measured, never holds).
    public func holds(number value: Double?) -> Bool {
        guard let value else { return false }
        return comparison.holds(value, threshold)
    }

    public func holds(word value: String) -> Bool {
        comparison == .equal ? value == word : value != word
    }

    /// A measured value written in the unit of the rule (`93.5%`, `612MB`, `1.2s`).
    public func format(_ value: Double) -> String {
        switch measure {
        case .cpu: return NumberText.fixed(value, digits: 1) + "%"
        case .memory: return SizeValue.format(Int64(value), binary: valueText.lowercased().contains("i"))
        case .probe_latency: return DurationValue.format(value / 1000)
        case .cert_days_left: return "\(Int(value))d"
        default: return "\(Int(value))"
        }
    }
}
