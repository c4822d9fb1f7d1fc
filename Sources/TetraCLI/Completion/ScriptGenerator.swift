import TetraCore

/// Generates the bash, zsh and fish completion scripts from the command table. The static
/// structure (subcommands, flags, which flags take values, fixed choices, files) is embedded
/// in the script; names known only at run time are asked from `tetra __complete`.
public struct CompletionScripts: Sendable {
    public let root: CommandSpec
    public init(root: CommandSpec) { self.root = root }

    public static let shells = ["bash", "zsh", "fish"]

    public func script(for shell: String) -> String? {
        switch shell {
        case "bash": return bash()
        case "zsh": return zsh()
        case "fish": return fish()
        default: return nil
        }
    }

    // MARK: - Table data

    struct Node {
        var path: String
        var spec: CommandSpec
    }

    /// Every visible command path, depth first ("" is the root).
    var nodes: [Node] {
        var out: [Node] = []
        func walk(_ spec: CommandSpec, _ path: [String]) {
            out.append(Node(path: path.joined(separator: " "), spec: spec))
            for child in spec.subcommands where !child.hidden { walk(child, path + [child.name]) }
        }
        walk(root, [])
        return out
    }

    func flags(_ spec: CommandSpec) -> [FlagSpec] {
        ArgumentParser.flags(for: spec).filter { !$0.hidden }
    }

    func valueFlagWords(_ spec: CommandSpec) -> [String] {
        ArgumentParser.flags(for: spec).filter(\.takesValue).flatMap { f in
            ["--" + f.name] + (f.short.map { ["-\($0)"] } ?? [])
        }
    }

    /// "file", "directory", "choices:a b", "dynamic" or nil for nothing.
    func kindWord(_ kind: CompletionKind) -> String? {
        switch kind {
        case .none: return nil
        case .file: return "file"
        case .directory: return "directory"
        case .choices(let c): return "choices:" + c.joined(separator: " ")
        case .dynamic: return "dynamic"
        }
    }

    /// (pattern path|flag, kind) for every value flag with a completion.
    func flagKinds() -> [(String, String)] {
        var rows: [(String, String)] = []
        var seen = Set<String>()
        // Global flags first as wildcard rows, then command-specific overrides before them.
        var specific: [(String, String)] = []
        for node in nodes {
            for f in ArgumentParser.flags(for: node.spec) where f.takesValue {
                guard let kind = kindWord(f.completion) else { continue }
                let isGlobal = GlobalFlags.all.contains(f)
                let words = ["--" + f.name] + (f.short.map { ["-\($0)"] } ?? [])
                for w in words {
                    if isGlobal {
                        if seen.insert("*|" + w).inserted { rows.append(("*|" + w, kind)) }
                    } else {
                        specific.append(("\(node.path)|\(w)", kind))
                    }
                }
            }
        }
        return specific + rows
    }

    /// (pattern path|index, kind) for positional arguments with a completion.
    func argKinds() -> [(String, String)] {
        var rows: [(String, String)] = []
        for node in nodes where node.spec.handler != nil {
            for (i, arg) in node.spec.arguments.enumerated() {
                guard let kind = kindWord(arg.completion) else { continue }
                rows.append(("\(node.path)|\(i)", kind))
                if arg.variadic { rows.append(("\(node.path)|*", kind)) }
            }
        }
        return rows
    }

    static func shellSingleQuote(_ s: String) -> String {
        "'" + s.replacingAll("'", with: "'\\''") + "'"
    }

    // MARK: - bash and zsh share POSIX-style `case` lookups

    func posixLookups(zsh: Bool) -> String {
        var s = ""
        s += "__tetra_subcommands() {\n    case \"$1\" in\n"
        for node in nodes where !node.spec.visibleSubcommands.isEmpty {
            s += "    \(Self.shellSingleQuote(node.path))) REPLY=\(Self.shellSingleQuote(node.spec.visibleSubcommands.map(\.name).joined(separator: " "))) ;;\n"
        }
        s += "    *) REPLY='' ;;\n    esac\n}\n\n"
        if zsh {
            s += "__tetra_describe() {\n    case \"$1\" in\n"
            for node in nodes where !node.spec.visibleSubcommands.isEmpty {
                let items = node.spec.visibleSubcommands.map { Self.shellSingleQuote($0.name + ":" + $0.summary.replacingAll(":", with: "\\:")) }
                s += "    \(Self.shellSingleQuote(node.path))) reply=(\(items.joined(separator: " "))) ;;\n"
            }
            s += "    *) reply=() ;;\n    esac\n}\n\n"
        }
        s += "__tetra_flags() {\n    case \"$1\" in\n"
        for node in nodes where node.spec.handler != nil || !node.spec.subcommands.isEmpty {
            let words = flags(node.spec).map { "--" + $0.name }
            s += "    \(Self.shellSingleQuote(node.path))) REPLY=\(Self.shellSingleQuote(words.joined(separator: " "))) ;;\n"
        }
        s += "    *) REPLY='' ;;\n    esac\n}\n\n"
        s += "__tetra_value_flags() {\n    case \"$1\" in\n"
        for node in nodes {
            s += "    \(Self.shellSingleQuote(node.path))) REPLY=\(Self.shellSingleQuote(" " + valueFlagWords(node.spec).joined(separator: " ") + " ")) ;;\n"
        }
        s += "    *) REPLY='' ;;\n    esac\n}\n\n"
        s += "__tetra_flag_kind() {\n    case \"$1|$2\" in\n"
        for (pattern, kind) in flagKinds() {
            let quoted = pattern.hasPrefix("*|") ? "*" + Self.shellSingleQuote(String(pattern.dropFirst())) : Self.shellSingleQuote(pattern)
            s += "    \(quoted)) REPLY=\(Self.shellSingleQuote(kind)) ;;\n"
        }
        s += "    *) REPLY='' ;;\n    esac\n}\n\n"
        s += "__tetra_arg_kind() {\n    case \"$1|$2\" in\n"
        for (pattern, kind) in argKinds() {
            let quoted = pattern.hasSuffix("|*") ? Self.shellSingleQuote(String(pattern.dropLast())) + "*" : Self.shellSingleQuote(pattern)
            s += "    \(quoted)) REPLY=\(Self.shellSingleQuote(kind)) ;;\n"
        }
        s += "    *) REPLY='' ;;\n    esac\n}\n"
        return s
    }

    /// The loop shared by bash and zsh (same syntax, different word array and base index):
    /// walks the words before the cursor, skipping flag values, following subcommands and
    /// counting positionals.
    func posixWalker(words: String, first: Int, current: String) -> String {
        let body = """
        for ((i = \(first); i < \(current); i++)); do
            word="${\(words)[i]}"
            if ((skip)); then skip=0; continue; fi
            if ((dd)); then npos=$((npos + 1)); continue; fi
            case "$word" in
            --) dd=1; continue ;;
            --*=*) continue ;;
            -?*)
                __tetra_value_flags "$cpath"
                [[ "$REPLY" == *" $word "* ]] && skip=1
                continue ;;
            esac
            if ((npos == 0)); then
                __tetra_subcommands "$cpath"
                if [[ " $REPLY " == *" $word "* ]]; then
                    cpath="${cpath:+$cpath }$word"
                    continue
                fi
            fi
            npos=$((npos + 1))
        done
        """
        // The first line takes the indentation of the interpolation point; the rest need it.
        return body.split(separator: "\n", omittingEmptySubsequences: false).joined(separator: "\n    ")
    }

    func bash() -> String {
        """
        # bash completion for tetra
        # Generated by `tetra completion bash` from tetra's command table; do not edit.
        # Install: tetra completion bash > ~/.local/share/bash-completion/completions/tetra
        # or add to ~/.bashrc: source <(tetra completion bash)

        \(posixLookups(zsh: false))
        # Walks the words before the cursor: command path, positional count, pending flag value.
        _tetra() {
            local cur="${COMP_WORDS[COMP_CWORD]}" cpath="" word i npos=0 skip=0 dd=0 kind=""
            local REPLY
            \(posixWalker(words: "COMP_WORDS", first: 1, current: "COMP_CWORD"))
            COMPREPLY=()
            if ((skip)); then
                __tetra_flag_kind "$cpath" "${COMP_WORDS[COMP_CWORD-1]}"
                kind="$REPLY"
            elif [[ "$cur" == -* && $dd -eq 0 ]]; then
                __tetra_flags "$cpath"
                COMPREPLY=($(compgen -W "$REPLY" -- "$cur"))
                return 0
            else
                if ((npos == 0)); then
                    __tetra_subcommands "$cpath"
                    COMPREPLY=($(compgen -W "$REPLY" -- "$cur"))
                fi
                __tetra_arg_kind "$cpath" "$npos"
                kind="$REPLY"
            fi
            case "$kind" in
            file)
                compopt -o filenames 2>/dev/null
                COMPREPLY+=($(compgen -f -- "$cur")) ;;
            directory)
                compopt -o filenames 2>/dev/null
                COMPREPLY+=($(compgen -d -- "$cur")) ;;
            choices:*)
                COMPREPLY+=($(compgen -W "${kind#choices:}" -- "$cur")) ;;
            dynamic)
                local IFS=$'\\n' line
                for line in $("${COMP_WORDS[0]}" __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null); do
                    case "$line" in
                    :file) compopt -o filenames 2>/dev/null; COMPREPLY+=($(compgen -f -- "$cur")) ;;
                    :directory) compopt -o filenames 2>/dev/null; COMPREPLY+=($(compgen -d -- "$cur")) ;;
                    *) COMPREPLY+=("${line%%$'\\t'*}") ;;
                    esac
                done ;;
            esac
            return 0
        }
        complete -F _tetra tetra

        """
    }

    func zsh() -> String {
        """
        #compdef tetra
        # zsh completion for tetra
        # Generated by `tetra completion zsh` from tetra's command table; do not edit.
        # Install: tetra completion zsh > "${fpath[1]}/_tetra" (then restart zsh)
        # or add to ~/.zshrc after compinit: source <(tetra completion zsh)

        \(posixLookups(zsh: true))
        _tetra() {
            local cur="${words[CURRENT]}" cpath="" word i npos=0 skip=0 dd=0 kind=""
            local REPLY
            local -a reply
            \(posixWalker(words: "words", first: 2, current: "CURRENT"))
            if ((skip)); then
                __tetra_flag_kind "$cpath" "${words[CURRENT-1]}"
                kind="$REPLY"
            elif [[ "$cur" == -* && $dd -eq 0 ]]; then
                __tetra_flags "$cpath"
                compadd -- ${=REPLY}
                return 0
            else
                if ((npos == 0)); then
                    __tetra_describe "$cpath"
                    (( ${#reply} )) && _describe -t commands 'tetra command' reply
                fi
                __tetra_arg_kind "$cpath" "$npos"
                kind="$REPLY"
            fi
            case "$kind" in
            file) _files ;;
            directory) _files -/ ;;
            choices:*) compadd -- ${=${kind#choices:}} ;;
            dynamic)
                local line
                local -a names
                for line in ${(f)"$(${words[1]} __complete ${words[2,CURRENT]} 2>/dev/null)"}; do
                    case "$line" in
                    :file) _files ;;
                    :directory) _files -/ ;;
                    *) names+=("${line%%$'\\t'*}") ;;
                    esac
                done
                (( ${#names} )) && compadd -- $names ;;
            esac
            return 0
        }

        if [[ "${funcstack[1]}" == "_tetra" ]]; then
            _tetra "$@"
        else
            compdef _tetra tetra
        fi

        """
    }

    func fishLookups() -> String {
        func q(_ s: String) -> String { Self.shellSingleQuote(s) }
        var s = "function __tetra_subcommands\n    switch $argv[1]\n"
        for node in nodes where !node.spec.visibleSubcommands.isEmpty {
            s += "        case \(q(node.path))\n"
            for sub in node.spec.visibleSubcommands {
                s += "            printf '%s\\t%s\\n' \(q(sub.name)) \(q(sub.summary))\n"
            }
        }
        s += "    end\nend\n\n"
        s += "function __tetra_flags\n    switch $argv[1]\n"
        for node in nodes where node.spec.handler != nil || !node.spec.subcommands.isEmpty {
            s += "        case \(q(node.path))\n            printf '%s\\n' \(flags(node.spec).map { q("--" + $0.name) }.joined(separator: " "))\n"
        }
        s += "    end\nend\n\n"
        s += "function __tetra_value_flags\n    switch $argv[1]\n"
        for node in nodes {
            let words = valueFlagWords(node.spec)
            guard !words.isEmpty else { continue }
            s += "        case \(q(node.path))\n            printf '%s\\n' \(words.map(q).joined(separator: " "))\n"
        }
        s += "    end\nend\n\n"
        s += "function __tetra_flag_kind\n    switch \"$argv[1]|$argv[2]\"\n"
        for (pattern, kind) in flagKinds() {
            let p = pattern.hasPrefix("*|") ? "'*'" + q(String(pattern.dropFirst())) : q(pattern)
            s += "        case \(p)\n            echo \(q(kind))\n"
        }
        s += "    end\nend\n\n"
        s += "function __tetra_arg_kind\n    switch \"$argv[1]|$argv[2]\"\n"
        for (pattern, kind) in argKinds() {
            let p = pattern.hasSuffix("|*") ? q(String(pattern.dropLast())) + "'*'" : q(pattern)
            s += "        case \(p)\n            echo \(q(kind))\n"
        }
        s += "    end\nend\n"
        return s
    }

    func fish() -> String {
        """
        # fish completion for tetra
        # Generated by `tetra completion fish` from tetra's command table; do not edit.
        # Install: tetra completion fish > ~/.config/fish/completions/tetra.fish

        \(fishLookups())
        function __tetra_complete
            set -l tokens (commandline -opc)
            set -l cur (commandline -ct)
            set -l cpath ''
            set -l npos 0
            set -l skip 0
            set -l dd 0
            for word in $tokens[2..-1]
                if test $skip -eq 1
                    set skip 0
                    continue
                end
                if test $dd -eq 1
                    set npos (math $npos + 1)
                    continue
                end
                switch $word
                    case '--'
                        set dd 1
                        continue
                    case '--*=*'
                        continue
                    case '-?*'
                        if contains -- $word (__tetra_value_flags "$cpath")
                            set skip 1
                        end
                        continue
                end
                if test $npos -eq 0
                    set -l subs (__tetra_subcommands "$cpath" | string replace -r '\\t.*' '')
                    if contains -- $word $subs
                        set cpath (string trim -- "$cpath $word")
                        continue
                    end
                end
                set npos (math $npos + 1)
            end
            set -l kind ''
            if test $skip -eq 1
                set kind (__tetra_flag_kind "$cpath" $tokens[-1])
            else if string match -q -- '-*' "$cur"; and test $dd -eq 0
                __tetra_flags "$cpath"
                return
            else
                if test $npos -eq 0
                    __tetra_subcommands "$cpath"
                end
                set kind (__tetra_arg_kind "$cpath" $npos)
            end
            switch "$kind"
                case file
                    __fish_complete_path "$cur"
                case directory
                    __fish_complete_directories "$cur"
                case 'choices:*'
                    string split ' ' -- (string replace 'choices:' '' -- $kind)
                case dynamic
                    for line in ($tokens[1] __complete $tokens[2..-1] "$cur" 2>/dev/null)
                        switch $line
                            case ':file'
                                __fish_complete_path "$cur"
                            case ':directory'
                                __fish_complete_directories "$cur"
                            case '*'
                                echo $line
                        end
                    end
            end
        end

        complete -c tetra -f -a '(__tetra_complete)'

        """
    }
}
