import FoundationEssentials
import Glibc
import TetraCore

/// The `config` group: TOML ↔ JSON, get/set of any TOML file, syntax checks.
enum ConfigCommands {
    static var spec: CommandSpec {
        CommandSpec("config", summary: "Read, convert, edit and check TOML files", subcommands: [decode, encode, get, set, check])
    }

    static let fileArg = ArgSpec("FILE", help: "a TOML file, or - for standard input (default)", optional: true, completion: .file)

    static var decode: CommandSpec {
        CommandSpec("decode", summary: "Print a TOML file as JSON",
                    arguments: [fileArg],
                    flags: [FlagSpec("tagged", help: "toml-test's typed JSON ({\"type\":\"integer\",\"value\":\"1\"})")],
                    examples: ["tetra config decode org.toml", "cat ports.toml | tetra config decode --tagged"],
                    handler: { inv, env in
                        // Memory: the file is read once into the parser's buffer, and the JSON
                        // is streamed to stdout in 64 KB chunks instead of being built whole.
                        let table = try parseInput(inv.argument("FILE") ?? "-", env)
                        let tagged = inv.has("tagged")
                        return CommandOutput(stream: { sink in
                            let chunk: (UnsafeRawBufferPointer) -> Void = { sink.write(bytes: $0) }
                            if tagged { TOMLTaggedJSON.write(table, to: chunk) } else { TOMLJSON.write(table, pretty: true, to: chunk) }
                            sink.write("\n")
                        })
                    })
    }

    /// Parses a TOML file argument (or `-`, standard input) without an intermediate copy.
    static func parseInput(_ path: String, _ env: CommandEnvironment) throws -> TOMLTable {
        let abs = env.core.absolutePath(path)
        var st = stat()
        // A regular file under the limit is parsed from its mapping (large files do not stay
        // resident); anything else (stdin, a fifo, /dev/fd/N, <(...)) is read once as a stream.
        guard path != "-", stat(abs, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            let input = try env.readInput(path)
            return try TOMLParser.parse(data: input.data, file: input.name)
        }
        if Int(st.st_size) > InputFile.configLimit { throw InputFile.tooLarge(path, limit: InputFile.configLimit) }
        return try TOMLParser.parse(contentsOfFile: abs, displayName: path)
    }

    static var encode: CommandSpec {
        CommandSpec("encode", summary: "Print a JSON document as TOML",
                    arguments: [ArgSpec("FILE", help: "a JSON file, or - for standard input (default)", optional: true, completion: .file)],
                    flags: [FlagSpec("tagged", help: "read toml-test's typed JSON")],
                    examples: ["tetra config encode settings.json > settings.toml"],
                    handler: { inv, env in
                        let input = try env.readInput(inv.argument("FILE") ?? "-")
                        let text = String(decoding: input.data, as: UTF8.self)
                        let table = inv.has("tagged") ? try TOMLTaggedJSON.decode(text, file: input.name)
                                                      : try ConfigFiles.tableFromJSON(text, file: input.name)
                        return CommandOutput(text: TOMLSerializer.serialize(table))
                    })
    }

    static var get: CommandSpec {
        CommandSpec("get", summary: "Print the value at KEY.PATH (strings bare, others as TOML)",
                    arguments: [ArgSpec("FILE", help: "a TOML file", completion: .file), ArgSpec("KEY.PATH", help: "dotted key, e.g. environments.dev.target")],
                    examples: ["tetra config get org.toml environments.prod.target"], json: true,
                    handler: { inv, env in
                        let path = try ConfigFiles.keyPath(inv.required("KEY.PATH"))
                        let input = try env.readInput(inv.required("FILE"))
                        let doc = try TOMLDocument(bytes: Array(input.data), fileName: input.name)
                        guard let value = doc.value(at: path) else {
                            throw CoreError.notFound(what: "key", name: inv.required("KEY.PATH"), hint: "in \(input.name)")
                        }
                        let key = path.joined(separator: ".")
                        let json = "{\"key\":\(TOMLJSON.encode(.string(key), pretty: false)),\"value\":\(TOMLJSON.encode(value, pretty: false))}"
                        var text = ConfigFiles.display(value)
                        if !text.hasSuffix("\n") { text += "\n" }
                        return CommandOutput(rawJSON: json, text: text)
                    })
    }

    static var set: CommandSpec {
        CommandSpec("set", summary: "Set KEY.PATH to VALUE (a TOML value), keeping the rest of the file byte for byte",
                    discussion: """
                    VALUE is parsed as TOML: 42, true, "text", [1, 2], { a = 1 }. Only the edited lines
                    change; the file is written atomically with its mode kept.
                    """,
                    arguments: [ArgSpec("FILE", help: "a TOML file", completion: .file), ArgSpec("KEY.PATH", help: "dotted key"),
                                ArgSpec("VALUE", help: "a TOML value")],
                    examples: ["tetra config set org.toml environments.prod.keep_releases 10",
                               "tetra config set org.toml org.description '\"Acme web\"'"],
                    mutates: true, json: true,
                    handler: { inv, env in
                        let path = try ConfigFiles.keyPath(inv.required("KEY.PATH"))
                        let value = try ConfigFiles.value(inv.required("VALUE"))
                        let file = env.core.absolutePath(inv.required("FILE"))
                        struct Result: Encodable { let file: String; let key: String; let changed: Bool; let dry_run: Bool; let diff: [String] }
                        func edit() throws -> Result {
                            // The file is rewritten: a special file is refused before it is read.
                            let target = try AtomicFile.writeTarget(file)
                            guard let data = try AtomicFile.readIfExists(target, limit: InputFile.configLimit) else {
                                throw CoreError.notFound(what: "file", name: inv.required("FILE"))
                            }
                            var doc = try TOMLDocument(bytes: Array(data), fileName: inv.required("FILE"))
                            let before = doc.render()
                            try doc.set(path, to: value)
                            let after = doc.render()
                            let diff = ConfigFiles.changedLines(before, after)
                            if !env.options.dryRun && before != after {
                                var st = stat()
                                let mode = stat(file, &st) == 0 ? st.st_mode & 0o7777 : 0o644
                                try AtomicFile.write(Data(after.utf8), to: file, mode: mode)
                            }
                            return Result(file: file, key: path.joined(separator: "."), changed: before != after,
                                          dry_run: env.options.dryRun, diff: diff)
                        }
                        let result: Result
                        if env.options.dryRun || !FileManager.default.fileExists(atPath: env.paths.state) {
                            result = try edit() // a file outside any state root: no lock directory to use
                        } else {
                            result = try env.core.withLock("config", edit)
                        }
                        let text = result.changed ? result.diff.joined(separator: "\n") + "\n" : "\(result.key) is already \(inv.required("VALUE"))\n"
                        return CommandOutput(json: result, text: text)
                    })
    }

    static var check: CommandSpec {
        CommandSpec("check", summary: "Check that TOML files parse; exit 3 with path:line:column on the first error of each",
                    arguments: [ArgSpec("FILE", help: "TOML files", variadic: true, completion: .file)],
                    examples: ["tetra config check config/*.toml"], json: true,
                    handler: { inv, env in
                        struct FileResult: Encodable { let file: String; let ok: Bool; let error: String? }
                        var results: [FileResult] = []
                        for name in inv.arguments("FILE") {
                            do {
                                let input = try env.readInput(name)
                                _ = try TOMLParser.parse(bytes: Array(input.data), file: name)
                                results.append(FileResult(file: name, ok: true, error: nil))
                            } catch let e as any TetraError {
                                results.append(FileResult(file: name, ok: false, error: e.message))
                            }
                        }
                        struct Result: Encodable { let files: [FileResult]; let ok: Bool }
                        let ok = results.allSatisfy(\.ok)
                        let text = results.map { $0.ok ? "ok \($0.file)\n" : "\($0.error!)\n" }.joined()
                        return CommandOutput(exitCode: ok ? .success : .invalidConfig, json: Result(files: results, ok: ok), text: text)
                    })
    }
}
