import FoundationEssentials
import Glibc

/// The services an environment runs where its release is: their definitions rendered for the
/// environment and host and shipped in the release, `.tetra/services/<name>.toml`, with the
/// port registry as `.tetra/ports.toml` (named ports resolve on the host as here).
enum ReleaseServices {
    static let directory = ".tetra/services"
    static let portsFile = ".tetra/ports.toml"
    /// `.tetra/secrets/<name>.env` (0600): only the secrets service `name` lists.
    static let secretsDirectory = ".tetra/secrets"

    /// Renders `names` (each `services/<name>.toml` of the org, a template like any other)
    /// into `tree`; returns the new files' hashes for the manifest. Every problem at once
    /// (exit 3).
    static func render(_ names: [String], org: LoadedOrg, environment: String, host: FleetHost?, inputs: OrgValidator.Inputs,
                       paths: StatePaths, into tree: String, interrupt: InterruptFlag?) throws -> [String: String] {
        guard !names.isEmpty else { return [:] }
        let secrets = inputs.secrets(for: environment)
        let context = try OrgRenderContext.build(org: org.document.table, environment: environment, ports: inputs.ports,
                                                 secrets: inputs.secrets(for: environment), file: org.orgFile, host: host?.templateTable)
        try AtomicFile.ensureDirectory(tree + "/.tetra", mode: 0o755)
        try AtomicFile.ensureDirectory(tree + "/" + directory, mode: 0o755)
        var hashes: [String: String] = [:]
        var problems: [ConfigProblem] = []
        let prefix = OrgRenderer.displayPrefix(org)
        for name in names {
            let display = (prefix.isEmpty ? "" : prefix + "/") + "services/\(name).toml"
            guard let data = try AtomicFile.readIfExists(org.directory + "/services/\(name).toml", limit: InputFile.configLimit),
                  let text = String(data: data, encoding: .utf8) else {
                problems.append(ConfigProblem(file: display, message: "no such service definition (or not UTF-8 text)"))
                continue
            }
            do {
                let result = try Template(source: text, name: display).renderResult(context, partials: nil, interrupt: interrupt)
                let rel = directory + "/\(name).toml"
                let bytes = Array(result.text.utf8)
                try OrgRenderer.writeScratch(bytes, to: tree + "/" + rel, mode: result.usesSecrets ? 0o600 : 0o644)
                hashes[rel] = SHA256.hex(of: Data(bytes))
                let document = try TOMLDocument(bytes: bytes, fileName: display)
                let listed = try ServiceDefinition.parse(document, file: display, expectedName: name).0.secrets
                if !listed.isEmpty {
                    try AtomicFile.ensureDirectory(tree + "/" + secretsDirectory, mode: 0o700)
                    let missing = listed.filter { secrets[$0] == nil }
                    if !missing.isEmpty {
                        problems.append(ConfigProblem(file: display, keyPath: "secrets", message: "not defined in the org's secrets for \(environment): " + missing.joined(separator: ", ")))
                        continue
                    }
                    let text = Array(SecretsFile.render(listed.map { ($0, secrets[$0]!) }).utf8)
                    let secretRel = secretsDirectory + "/\(name).env"
                    try OrgRenderer.writeScratch(text, to: tree + "/" + secretRel, mode: 0o600)
                    hashes[secretRel] = SHA256.hex(of: Data(text))
                }
            } catch let e as ConfigError {
                problems += e.problems.map { OrgRenderer.annotate($0, environment: environment) }
            }
        }
        if !problems.isEmpty { throw ConfigError(problems) }
        if let registry = try AtomicFile.readIfExists(paths.portsFile, limit: InputFile.configLimit) {
            try OrgRenderer.writeScratch(Array(registry), to: tree + "/" + portsFile, mode: 0o644)
            hashes[portsFile] = SHA256.hex(of: registry)
        }
        return hashes
    }
}
