import FoundationEssentials

/// `--hosts web1,tag:eu`: the hosts of an environment a fleet command acts on. A word is a
/// host name or `tag:TAG`; a host is selected when any word matches it.
public struct HostSelector: Sendable, Equatable {
    public var names: [String]
    public var tags: [String]

    public init(names: [String] = [], tags: [String] = []) {
        self.names = names
        self.tags = tags
    }

    /// Parses the flag's value (exit 2 for an empty word).
    public static func parse(_ text: String) throws -> HostSelector {
        var selector = HostSelector()
        for word in text.split(separator: ",", omittingEmptySubsequences: false).map({ String($0).trimming(.whitespaces) }) {
            if word.hasPrefix("tag:") {
                let tag = String(word.dropFirst(4))
                guard !tag.isEmpty else { throw CoreError.invalidArgument("--hosts: 'tag:' needs a tag, as in tag:eu") }
                selector.tags.append(tag)
            } else {
                guard !word.isEmpty else {
                    throw CoreError.invalidArgument("--hosts: empty host name in '\(Names.printable(text))'",
                                                    hint: "give host names and tag:TAG words separated by commas, as in web1,tag:eu")
                }
                selector.names.append(word)
            }
        }
        return selector
    }

    /// The selected hosts, in the environment's order. A name that is not a host of the
    /// environment, or a selection of no host, is exit 2 naming the hosts there are.
    public func select(_ hosts: [FleetHost], env: String) throws -> [FleetHost] {
        let all = hosts.map(\.name)
        for name in names where !all.contains(name) {
            throw CoreError.invalidArgument("--hosts: '\(Names.printable(name))' is not a host of \(env)",
                                            hint: Suggest.didYouMean(name, in: all) ?? "hosts of \(env): \(all.joined(separator: ", "))")
        }
        let chosen = hosts.filter { h in names.contains(h.name) || h.tags.contains { tags.contains($0) } }
        if chosen.isEmpty {
            throw CoreError.invalidArgument("--hosts: no host of \(env) has tag \(tags.joined(separator: " or "))",
                                            hint: "hosts of \(env): \(all.joined(separator: ", "))")
        }
        return chosen
    }
}
