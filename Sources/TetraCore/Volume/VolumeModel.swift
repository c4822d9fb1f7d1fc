import FoundationEssentials

/// Docker's scope of a volume: this engine (`local`) or a swarm cluster (`global`).
public enum VolumeScope: String, Sendable, Equatable, Encodable {
    case local, global
}

/// A volume in `tetra volume list`.
public struct VolumeRecord: Sendable, Equatable, Encodable {
    public var name: String
    public var driver: String
    /// Left out when the engine reports none (or a scope this tetra does not know).
    public var scope: VolumeScope?
    /// The `tetra.org` / `tetra.env` labels.
    public var org: String?
    public var env: String?
    public var labels: [String: String]
    /// RFC 3339, UTC.
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
    public var scope: VolumeScope?
    public var mountpoint: String
    /// RFC 3339, UTC.
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

// JSON: snake_case keys; absent values are left out (never null).

extension VolumeRecord {
    enum CodingKeys: String, CodingKey {
        case name, driver, scope, org, env, labels, createdAt = "created_at", inUse = "in_use"
    }
}

extension VolumeList {
    enum CodingKeys: String, CodingKey { case org, env, dangling, volumes }
}

extension VolumeDetail {
    enum CodingKeys: String, CodingKey {
        case name, driver, scope, mountpoint, createdAt = "created_at", org, env, labels, options
        case sizeBytes = "size_bytes", size, containers
    }
}

extension VolumeCreateResult {
    enum CodingKeys: String, CodingKey { case name, driver, org, env, labels, options, dryRun = "dry_run" }
}

extension VolumeBackupResult {
    enum CodingKeys: String, CodingKey { case volume, file, image, bytes, dryRun = "dry_run", runningUsers = "running_users" }
}

extension VolumeDeleteResult {
    enum CodingKeys: String, CodingKey { case name, dryRun = "dry_run", backup }
}

extension VolumePruneResult {
    enum CodingKeys: String, CodingKey { case org, all, dryRun = "dry_run", removed, skipped }
}

extension VolumeRestoreResult {
    enum CodingKeys: String, CodingKey { case volume, file, image, created, replaced, dryRun = "dry_run" }
}
