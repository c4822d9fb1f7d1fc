import FoundationEssentials

/// A volume in `tetra volume list`.
public struct VolumeRecord: Sendable, Equatable, Encodable {
    public var name: String
    public var driver: String
    public var scope: String
    /// The `tetra.org` / `tetra.env` labels.
    public var org: String?
    public var env: String?
    public var labels: [String: String]
    public var createdAt: String?
    /// Referenced by at least one container (running or stopped).
    public var inUse: Bool
}

public struct VolumeList: Sendable, Equatable, Encodable {
    /// The org filter applied (nil: every volume of the engine).
    public var org: String?
    public var env: String?
    public var dangling: Bool
    public var volumes: [VolumeRecord]
}

/// `tetra volume get NAME`.
public struct VolumeDetail: Sendable, Equatable, Encodable {
    public var name: String
    public var driver: String
    public var scope: String
    public var mountpoint: String
    public var createdAt: String?
    public var org: String?
    public var env: String?
    public var labels: [String: String]
    public var options: [String: String]
    /// Bytes used, when the engine computes it (local driver); nil otherwise.
    public var sizeBytes: Int64?
    /// The engine's own rendering ("1.2MB"), or "N/A".
    public var size: String
    public var containers: [DockerContainerRef]
}

public struct VolumeCreateResult: Sendable, Equatable, Encodable {
    public var name: String
    public var driver: String
    public var org: String?
    public var env: String?
    public var labels: [String: String]
    public var options: [String: String]
    public var dryRun: Bool
}

public struct VolumeBackupResult: Sendable, Equatable, Encodable {
    public var volume: String
    public var file: String
    public var image: String
    /// Size of the archive written (0 on a dry run).
    public var bytes: Int64
    public var dryRun: Bool
    /// Running containers that used the volume while it was read (the copy may be inconsistent).
    public var runningUsers: [String]
}

public struct VolumeDeleteResult: Sendable, Equatable, Encodable {
    public var name: String
    public var dryRun: Bool
    public var backup: VolumeBackupResult?
}

public struct VolumePruneResult: Sendable, Equatable, Encodable {
    public struct Skipped: Sendable, Equatable, Encodable {
        public var name: String
        public var reason: String
    }
    public var org: String?
    public var all: Bool
    public var dryRun: Bool
    /// Removed (or, on a dry run, that would be removed).
    public var removed: [String]
    public var skipped: [Skipped]
}

public struct VolumeRestoreResult: Sendable, Equatable, Encodable {
    public var volume: String
    public var file: String
    public var image: String
    /// The volume did not exist and was created (with the tetra labels).
    public var created: Bool
    /// The volume had content that was replaced (--force).
    public var replaced: Bool
    public var dryRun: Bool
}

// Stable JSON schemas: absent values are written as null, never left out.

extension VolumeRecord {
    enum CodingKeys: String, CodingKey { case name, driver, scope, org, env, labels, createdAt, inUse }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(driver, forKey: .driver)
        try c.encode(scope, forKey: .scope)
        try c.encode(org, forKey: .org)
        try c.encode(env, forKey: .env)
        try c.encode(labels, forKey: .labels)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(inUse, forKey: .inUse)
    }
}

extension VolumeList {
    enum CodingKeys: String, CodingKey { case org, env, dangling, volumes }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(org, forKey: .org)
        try c.encode(env, forKey: .env)
        try c.encode(dangling, forKey: .dangling)
        try c.encode(volumes, forKey: .volumes)
    }
}

extension VolumeDetail {
    enum CodingKeys: String, CodingKey {
        case name, driver, scope, mountpoint, createdAt, org, env, labels, options, sizeBytes, size, containers
    }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(driver, forKey: .driver)
        try c.encode(scope, forKey: .scope)
        try c.encode(mountpoint, forKey: .mountpoint)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(org, forKey: .org)
        try c.encode(env, forKey: .env)
        try c.encode(labels, forKey: .labels)
        try c.encode(options, forKey: .options)
        try c.encode(sizeBytes, forKey: .sizeBytes)
        try c.encode(size, forKey: .size)
        try c.encode(containers, forKey: .containers)
    }
}

extension VolumeCreateResult {
    enum CodingKeys: String, CodingKey { case name, driver, org, env, labels, options, dryRun }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(driver, forKey: .driver)
        try c.encode(org, forKey: .org)
        try c.encode(env, forKey: .env)
        try c.encode(labels, forKey: .labels)
        try c.encode(options, forKey: .options)
        try c.encode(dryRun, forKey: .dryRun)
    }
}

extension VolumeDeleteResult {
    enum CodingKeys: String, CodingKey { case name, dryRun, backup }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(dryRun, forKey: .dryRun)
        try c.encode(backup, forKey: .backup)
    }
}

extension VolumePruneResult {
    enum CodingKeys: String, CodingKey { case org, all, dryRun, removed, skipped }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(org, forKey: .org)
        try c.encode(all, forKey: .all)
        try c.encode(dryRun, forKey: .dryRun)
        try c.encode(removed, forKey: .removed)
        try c.encode(skipped, forKey: .skipped)
    }
}
