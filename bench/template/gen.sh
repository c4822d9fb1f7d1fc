#!/usr/bin/env bash
# Generates the template benchmark input into DIR (default: a new temporary directory):
#   DIR/bench.conf.tmpl  about 10,000 lines: 100 sections of variables, conditionals and
#                        comments, plus one {{#each servers}} loop
#   DIR/vars.toml        the variables, with 1,000 [[servers]] (so 1,000 loop iterations)
# Prints DIR. Usage: bench/template/gen.sh [DIR] [SERVERS]
set -euo pipefail
dir="${1:-$(mktemp -d)}"
servers="${2:-1000}"
mkdir -p "$dir"

awk 'BEGIN {
    print "# {{ org.name }} / {{ env.name }}: generated for benchmarking"
    print "{{! sections: variables, dotted paths, conditionals, standalone lines }}"
    for (s = 0; s < 100; s++) {
        print ""
        print "[section_" s "]"
        print "host = \"{{ domain }}\""
        print "port = {{ ports.api }}"
        for (k = 0; k < 14; k++) {
            print "plain_" k " = \"a literal line of configuration text, number " k "\""
            print "var_" k " = \"{{ env.name }}-{{ replicas }}-" k "\""
            print "{{#if debug}}"
            print "debug_" k " = true"
            print "{{else}}"
            print "quiet_" k " = {{ ratio }}"
            print "{{/if}}"
        }
        print "{{! end of section " s " }}"
    }
    print ""
    print "{{#each servers}}"
    print "[[server]]"
    print "index = {{ @index }}"
    print "name = \"{{ name }}.{{ domain }}\""
    print "port = {{ port }}"
    print "{{#if enabled}}"
    print "weight = {{ weight }}"
    print "{{else}}"
    print "# disabled"
    print "{{/if}}"
    print "tags = [{{#each tags}}\"{{ . }}\"{{#unless @last}}, {{/unless}}{{/each}}]"
    print "{{/each}}"
}' > "$dir/bench.conf.tmpl"

awk -v n="$servers" 'BEGIN {
    print "domain = \"bench.example.com\""
    print "replicas = 3"
    print "debug = false"
    print "ratio = 0.75"
    print ""
    print "[org]"
    print "name = \"bench\""
    print ""
    print "[env]"
    print "name = \"prod\""
    print ""
    print "[ports]"
    print "api = 5001"
    for (i = 0; i < n; i++) {
        print ""
        print "[[servers]]"
        print "name = \"srv" i "\""
        print "port = " (6000 + i)
        print "enabled = " (i % 4 == 0 ? "false" : "true")
        print "weight = " (i % 10)
        print "tags = [\"a\", \"b\", \"c" i "\"]"
    }
}' > "$dir/vars.toml"

echo "$dir"
