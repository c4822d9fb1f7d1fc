import FoundationEssentials
import Glibc

/// The service definitions of an org, validated together (`org validate`, `doctor`).
extension OrgValidator {
    struct ServiceFindings {
        /// Services named by a file (valid names), broken or not.
        var names: [String] = []
        var problems: [ConfigProblem] = []
        var warnings: [ConfigProblem] = []
    }

    /// A definition as read, with the document its positions come from.
    struct CheckedService {
        var display: String
        var document: TOMLDocument
        var definition: ServiceDefinition

        func problem(_ path: [String], _ message: String) -> ConfigProblem {
            let pcs = document.resolve(path)
            return ConfigProblem(file: display, position: path.count > 1 ? document.keyPosition(of: pcs) : document.position(of: pcs),
                                 keyPath: path.first, message: message)
        }
    }

    /// Every `services/*.toml` of `org`: each file's own problems (syntax, types, values),
    /// then across files: `depends_on` naming services of the org, cycles, named ports
    /// registered, secrets defined in secrets.env, two services on one port.
    func serviceProblems(org: String, inputs: Inputs) -> ServiceFindings {
        let dir = paths.org(org) + "/services"
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".toml") }.sorted()
        var found = ServiceFindings()
        var checked: [CheckedService] = []
        for file in files {
            let name = String(file.dropLast(5))
            let display = "orgs/\(org)/services/\(file)"
            guard Names.isValid(name) else {
                found.problems.append(ConfigProblem(file: display, message: "'\(Names.printable(name))' is not a valid service name (file ignored)"))
                continue
            }
            found.names.append(name)
            guard let document = Self.readDocument(dir + "/" + file, display: display, problems: &found.problems) else { continue }
            let result = ServiceDefinition.check(document, file: display, expectedName: name)
            found.problems += result.problems
            found.warnings += result.warnings
            if let def = result.definition { checked.append(CheckedService(display: display, document: document, definition: def)) }
        }
        let known = Set(found.names)
        var byPort: [Int: String] = [:]
        for s in checked {
            let def = s.definition
            for (i, dep) in def.dependsOn.enumerated() where Names.isValid(dep) && dep != def.name && !known.contains(dep) {
                found.problems.append(s.problem(["depends_on", String(i)], "no service '\(dep)' in org \(org)"
                                                + (Suggest.didYouMean(dep, in: found.names).map { " (\($0))" } ?? "")))
            }
            for (i, key) in def.secrets.enumerated() where SecretsFile.isValidKey(key) && inputs.secretsFailure == nil && !inputs.allSecretNames.contains(key) {
                found.problems.append(s.problem(["secrets", String(i)], "secret \(key) is not defined in the secrets of orgs/\(org) (secrets.env or secrets*.env.age)"))
            }
            var number: Int? = nil
            switch def.port {
            case .named(let p)? where inputs.portsReadable:
                number = inputs.ports[p]
                if number == nil {
                    found.problems.append(s.problem(["port"], "port '\(p)' is not registered in config/ports.toml (tetra ports allocate \(p))"))
                }
            case .number(let n)?: number = n
            default: break
            }
            if let number {
                if let other = byPort[number] {
                    found.problems.append(s.problem(["port"], "port \(number) is also the port of service \(other)"))
                } else {
                    byPort[number] = def.name
                }
            }
        }
        found.problems += Self.dependencyCycles(checked)
        return found
    }

    /// Every dependency cycle among `services` (one per cycle, however many services are in
    /// it), reported at the `depends_on` item of its first service (by name) that closes it:
    /// `dependency cycle: api -> worker -> api`.
    static func dependencyCycles(_ services: [CheckedService]) -> [ConfigProblem] {
        let byName = Dictionary(services.map { ($0.definition.name, $0) }, uniquingKeysWith: { a, _ in a })
        var state: [String: Int] = [:] // 1 visiting, 2 done
        var stack: [String] = []
        var seen = Set<[String]>()
        var problems: [ConfigProblem] = []
        func visit(_ n: String) {
            state[n] = 1
            stack.append(n)
            for dep in byName[n]?.definition.dependsOn ?? [] where dep != n && byName[dep] != nil {
                if state[dep] == 1, let i = stack.firstIndex(of: dep) {
                    var cycle = Array(stack[i...])
                    let start = cycle.firstIndex(of: cycle.min()!)!
                    cycle = Array(cycle[start...] + cycle[..<start])
                    guard seen.insert(cycle).inserted, let first = byName[cycle[0]] else { continue }
                    let next = cycle.count > 1 ? cycle[1] : cycle[0]
                    let index = first.definition.dependsOn.firstIndex(of: next) ?? 0
                    problems.append(first.problem(["depends_on", String(index)],
                                                  "dependency cycle: " + (cycle + [cycle[0]]).joined(separator: " -> ")))
                } else if state[dep] == nil {
                    visit(dep)
                }
            }
            stack.removeLast()
            state[n] = 2
        }
        for s in services.map(\.definition.name).sorted() where state[s] == nil { visit(s) }
        return problems
    }
}
