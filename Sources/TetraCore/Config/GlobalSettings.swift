import FoundationEssentials

/// `config/tetra.toml`: global settings, the lowest-precedence layer above built-in
/// defaults (flag > environment variable > this file > default).
public struct GlobalSettings: Sendable, Equatable, Decodable {
    public var defaultOrg: String?
    public var acmeEmail: String?
    public var libraryURL: String?
    public var volumeImage: String?

    enum CodingKeys: String, CodingKey {
        case defaultOrg = "default_org"
        case acmeEmail = "acme_email"
        case libraryURL = "library_url"
        case volumeImage = "volume_image"
    }

    public init(defaultOrg: String? = nil, acmeEmail: String? = nil, libraryURL: String? = nil, volumeImage: String? = nil) {
        self.defaultOrg = defaultOrg
        self.acmeEmail = acmeEmail
        self.libraryURL = libraryURL
        self.volumeImage = volumeImage
    }

    /// Reads the file (missing: all defaults). Syntax and type errors are exit 3 with
    /// `path:line:column`; unknown keys are returned as warnings.
    public static func loadWithWarnings(_ paths: StatePaths) throws -> (GlobalSettings, [ConfigProblem]) {
        guard let data = try AtomicFile.readIfExists(paths.globalConfig, limit: InputFile.configLimit) else { return (GlobalSettings(), []) }
        let document = try TOMLDocument(bytes: Array(data), fileName: paths.globalConfig)
        return try TOMLDecoder().decode(GlobalSettings.self, from: document)
    }

    public static func load(_ paths: StatePaths) throws -> GlobalSettings {
        try loadWithWarnings(paths).0
    }
}
