// libFuzzer target for the TOML engine. Built by scripts/fuzz-toml.sh together with
// Sources/TetraCore/TOML/*.swift and Sources/TetraCore/Errors.swift.
//
// Besides "no crash, no hang", it traps when an invariant is violated:
//  - the document parser and the plain parser agree (both accept with equal values, or both reject);
//  - an untouched document renders byte-identical;
//  - TOMLSerializer output re-parses to an equal value;
//  - tagged JSON round-trips; plain JSON is valid JSON;
//  - every recorded position lies inside the document;
//  - edits (set/remove/append/addTable) either refuse with a clear error or produce a
//    document that re-parses to exactly the expected value.

import Foundation

private func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition {
        FileHandle.standardError.write(("invariant violated: " + message() + "\n").data(using: .utf8)!)
        abort()
    }
}

/// Edit errors that mean the engine itself is wrong (not a legitimate refusal).
private func isInternalEditFailure(_ error: Error) -> Bool {
    guard let e = error as? ConfigError else { return true }
    return e.problems.contains {
        $0.message.hasPrefix("edit produced invalid TOML") || $0.message.hasPrefix("edit could not be applied")
    }
}

private func collectPaths(_ t: TOMLTable, prefix: [String], into out: inout [[String]], limit: Int) {
    for (k, v) in t {
        if out.count >= limit { return }
        out.append(prefix + [k])
        if case .table(let sub) = v { collectPaths(sub, prefix: prefix + [k], into: &out, limit: limit) }
    }
}

private func exerciseEdits(_ doc: TOMLDocument) {
    var paths: [[String]] = []
    collectPaths(doc.table, prefix: [], into: &paths, limit: 6)
    let values: [TOMLValue] = [.integer(42), .string("fu\"zz\n"), .array([.boolean(true)]),
                               .table(TOMLTable([("k", .float(1.5))]))]
    for (n, path) in paths.enumerated() {
        let value = values[n % values.count]
        var d = doc
        do { try d.set(path, to: value); check(d.value(at: path) == value, "set did not set \(path)") }
        catch { check(!isInternalEditFailure(error), "set \(path): \(error)") }
        d = doc
        do { _ = try d.remove(path); check(d.value(at: path) == nil, "remove left \(path)") }
        catch { check(!isInternalEditFailure(error), "remove \(path): \(error)") }
        d = doc
        do { try d.set(path + ["fuzz-new"], to: .integer(7)) }
        catch { check(!isInternalEditFailure(error), "set new under \(path): \(error)") }
        if case .array? = doc.value(at: path) {
            d = doc
            do { try d.append(path, .table(TOMLTable([("x", .integer(1))]))) }
            catch { check(!isInternalEditFailure(error), "append \(path): \(error)") }
            d = doc
            do { try d.append(path, .integer(3)) }
            catch { check(!isInternalEditFailure(error), "append \(path): \(error)") }
        }
        d = doc
        do { try d.addTable(path + ["fuzz_t"]) }
        catch { check(!isInternalEditFailure(error), "addTable \(path): \(error)") }
    }
    var d = doc
    do { try d.set(["fuzz_root_key"], to: .string("v")) }
    catch { check(!isInternalEditFailure(error), "set root key: \(error)") }
    d = doc
    do { try d.set(["fuzz_a", "b"], to: .integer(1)) }
    catch { check(!isInternalEditFailure(error), "set new table: \(error)") }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func tomlFuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let plain = try? TOMLParser.parse(bytes: bytes)
    let doc: TOMLDocument
    do {
        doc = try TOMLDocument(bytes: bytes)
    } catch let e as ConfigError {
        check(plain == nil, "document rejects what the parser accepts")
        check(e.problems.first?.position != nil, "error without position: \(e)")
        return 0
    } catch {
        check(false, "unexpected error type \(error)")
        return 0
    }
    check(plain != nil && plain! == doc.table, "parser and document disagree")
    check(doc.renderBytes() == bytes, "render is not byte-identical")

    let text = TOMLSerializer.serialize(doc.table)
    do {
        let back = try TOMLParser.parse(text)
        check(back == doc.table, "serializer round-trip differs:\n\(text)")
    } catch {
        check(false, "serializer output does not parse: \(error)\n\(text)")
    }
    do {
        let back = try TOMLTaggedJSON.decode(TOMLTaggedJSON.encode(doc.table))
        check(back == doc.table, "tagged JSON round-trip differs")
        _ = try TOMLTaggedJSON.decode(TOMLJSON.encode(doc.table, pretty: true)) // must be valid JSON
    } catch let e as ConfigError where !e.problems.contains(where: { $0.message.hasPrefix("tagged JSON:") }) {
        check(false, "JSON output is not valid JSON: \(e)")
    } catch {}

    // Positions of every top-level path lie inside the document.
    var paths: [[String]] = []
    collectPaths(doc.table, prefix: [], into: &paths, limit: 50)
    let lineCount = bytes.filter { $0 == 0x0A }.count + 1
    for p in paths {
        if let pos = doc.position(of: p) {
            check(pos.line >= 1 && pos.line <= lineCount && pos.column >= 1, "position out of range for \(p)")
        }
    }
    exerciseEdits(doc)
    return 0
}
