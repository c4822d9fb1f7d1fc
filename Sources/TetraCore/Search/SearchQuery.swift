import FoundationEssentials

/// The one search grammar (docs/search.md): `tetra search`, the dashboard's `/` filter and the
/// MCP `search` tool read it. A query is terms separated by spaces, all of which must match:
///
///     api                    a word: part of the name or description (any case)
///     "payment api"          a phrase (double quotes): the same, spaces included
///     kind:svc               a filter KEY:VALUE (kind, tag, org, env, host, state, commit)
///     tag:team:pay           (the value is everything after the first colon)
///     expires<30d            certificates expiring within 30 days (also <=, >, >=)
///     -word, -tag:legacy     a term with `-` in front must not match
///
/// A malformed query is exit 2 naming the column (1-based) where the problem is.
public struct SearchQuery: Sendable, Equatable {
    public enum Key: String, Sendable, CaseIterable {
        case kind, tag, org, env, host, state, commit
    }

    public enum Comparison: String, Sendable { case less = "<", lessOrEqual = "<=", greater = ">", greaterOrEqual = ">=" }

    public enum Term: Sendable, Equatable {
        /// Lower-cased; matches part of a name or description.
        case word(String)
        case filter(Key, String)
        /// `expires<30d`: the number of seconds from now.
        case expires(Comparison, TimeInterval)
    }

    public struct Clause: Sendable, Equatable {
        public var term: Term
        public var negated: Bool
    }

    public var clauses: [Clause]

    /// The words `kind:` accepts, with their plural and short spellings.
    public static let kindNames: [String: SearchKind] = {
        var out: [String: SearchKind] = [:]
        for k in SearchKind.allCases { out[k.rawValue] = k; out[k.rawValue + "s"] = k }
        out["svc"] = .service; out["cert"] = .certificate; out["certs"] = .certificate; out["environment"] = .env
        out["vol"] = .volume; out["tmpl"] = .template
        return out
    }()

    public struct Problem: TetraError {
        public var query: String
        public var column: Int
        public var reason: String
        public var exitCode: ExitCode { .usage }
        public var kind: String { "usage" }
        public var message: String { "search query, column \(column): \(reason)\n  \(query)\n  \(String(repeating: " ", count: column - 1))^" }
        public var hint: String? { "see docs/search.md: words, \"phrases\", KEY:VALUE (\(Key.allCases.map(\.rawValue).joined(separator: ", "))), expires<30d, -TERM" }
    }

    public static func parse(_ text: String) throws -> SearchQuery {
        let chars = Array(text)
        var clauses: [Clause] = []
        var i = 0
        func problem(_ at: Int, _ reason: String) -> Problem { Problem(query: text, column: at + 1, reason: reason) }
        while i < chars.count {
            if chars[i] == " " || chars[i] == "\t" { i += 1; continue }

            var negated = false
            if chars[i] == "-" && i + 1 < chars.count && chars[i + 1] != " " { negated = true; i += 1 }
            if chars[i] == "\"" {
                guard let close = chars[(i + 1)...].firstIndex(of: "\"") else { throw problem(i, "unclosed quote") }
                let phrase = String(chars[(i + 1)..<close]).lowercased()
                guard !phrase.trimming(.whitespaces).isEmpty else { throw problem(i, "an empty phrase") }
                clauses.append(Clause(term: .word(phrase), negated: negated))
                i = close + 1
                continue
            }
            var end = i
            while end < chars.count && chars[end] != " " && chars[end] != "\t" { end += 1 }
            let token = String(chars[i..<end])
            clauses.append(Clause(term: try term(token, at: i, problem: problem), negated: negated))
            i = end
        }
        return SearchQuery(clauses: clauses)
    }

    static func term(_ token: String, at offset: Int, problem: (Int, String) -> Problem) throws -> Term {
        let lower = token.lowercased()
        if lower.hasPrefix("expires") {
            let rest = Array(lower.dropFirst(7))
            if let first = rest.first, first == "<" || first == ">" {
                let op: Comparison
                let width: Int
                if rest.count > 1 && rest[1] == "=" { op = first == "<" ? .lessOrEqual : .greaterOrEqual; width = 2 } else {
                    op = first == "<" ? .less : .greater; width = 1
                }
                let value = String(rest.dropFirst(width))
                let at = offset + 7 + width
                guard !value.isEmpty else { throw problem(at, "a duration is missing after 'expires\(op.rawValue)' (e.g. 30d)") }
                guard let d = try? DurationValue.parse(value) else { throw problem(at, "'\(value)' is not a duration (e.g. 30d, 12h)") }
                return .expires(op, d.seconds)
            }
        }
        guard let colon = token.firstIndex(of: ":") else {
            if let c = token.firstIndex(where: { $0 == "<" || $0 == ">" }) {
                throw problem(offset + token.distance(from: token.startIndex, to: c), "only 'expires' compares with < or > (e.g. expires<30d)")
            }
            return .word(lower)
        }
        let keyText = String(token[..<colon]).lowercased()
        let value = String(token[token.index(after: colon)...])
        guard let key = Key(rawValue: keyText) else {
            throw problem(offset, "unknown filter '\(keyText):' (filters: \(Key.allCases.map { $0.rawValue + ":" }.joined(separator: " ")))")
        }
        let valueAt = offset + keyText.count + 1
        guard !value.isEmpty else { throw problem(valueAt, "a value is missing after '\(keyText):'") }
        if key == .kind {
            guard let kind = kindNames[value.lowercased()] else {
                throw problem(valueAt, "unknown kind '\(value)' (kinds: \(SearchKind.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            return .filter(.kind, kind.rawValue)
        }
        return .filter(key, value)
    }
}

/// The kinds of resource a search returns.
public enum SearchKind: String, Sendable, Encodable, CaseIterable {
    case org, env, host, service, port, certificate, volume, template, release
}

extension SearchQuery {
    /// The kinds the query can match (nil: any), from its `kind:` filters, so that a search
    /// for certificates reads no org and asks docker nothing.
    public var kinds: Set<SearchKind>? {
        let wanted = clauses.compactMap { c -> SearchKind? in
            guard !c.negated, case .filter(.kind, let v) = c.term else { return nil }
            return SearchKind(rawValue: v)
        }
        var set: Set<SearchKind>? = wanted.isEmpty ? nil : Set(wanted)
        if clauses.contains(where: { if case .expires = $0.term { return !$0.negated } else { return false } }) {
            set = (set ?? Set(SearchKind.allCases)).intersection([.certificate])
        }
        for c in clauses where c.negated {
            if case .filter(.kind, let v) = c.term, let k = SearchKind(rawValue: v) {
                set = (set ?? Set(SearchKind.allCases)).subtracting([k])
            }
        }
        return set
    }

    /// Whether `r` satisfies every clause (`now` for `expires`).
    public func matches(_ r: SearchResource, now: Date) -> Bool {
        clauses.allSatisfy { c in Self.matches(c.term, r, now: now) != c.negated }
    }

    static func matches(_ term: Term, _ r: SearchResource, now: Date) -> Bool {
        func same(_ a: String?, _ b: String) -> Bool { a.map { $0.lowercased() == b.lowercased() } ?? false }
        switch term {
        case .word(let w):
            return r.name.lowercased().contains(w) || (r.description?.lowercased().contains(w) ?? false)
        case .filter(let key, let value):
            switch key {
            case .kind: return r.kind.rawValue == value
            case .tag: return r.tags?.contains { $0 == value.lowercased() } ?? false
            case .org: return same(r.org, value)
            case .env: return same(r.env, value)
            case .host: return same(r.host, value) || (r.host?.split(separator: ",").contains { same(String($0), value) } ?? false)
            case .state: return same(r.state, value)
            case .commit: return r.commit.map { $0.lowercased().hasPrefix(value.lowercased()) } ?? false
            }
        case .expires(let op, let seconds):
            guard let at = r.expires_at else { return false }
            let left = at.timeIntervalSince(now)
            switch op {
            case .less: return left < seconds
            case .lessOrEqual: return left <= seconds
            case .greater: return left > seconds
            case .greaterOrEqual: return left >= seconds
            }
        }
    }
}

/// `tetra search QUERY`: the matching resources, in kind order then by org, env and name.
public struct SearchResult: Encodable, Sendable {
    public var query: String
    public var results: [SearchResource]
    public var result_count: Int
}

public struct SearchService: Sendable {
    let core: CoreContext
    public init(core: CoreContext) { self.core = core }

    public func search(_ text: String) throws -> SearchResult {
        let query = try SearchQuery.parse(text)
        let now = core.now()
        let order = Dictionary(uniqueKeysWithValues: SearchKind.allCases.enumerated().map { ($1, $0) })
        let found = SearchCatalog(core: core).resources(kinds: query.kinds).filter { query.matches($0, now: now) }
            .sorted { a, b in
                (order[a.kind]!, a.org ?? "", a.env ?? "", a.name) < (order[b.kind]!, b.org ?? "", b.env ?? "", b.name)
            }
        return SearchResult(query: text, results: found, result_count: found.count)
    }
}
