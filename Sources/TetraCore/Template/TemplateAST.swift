/// The parsed form of a template: a flat program built once by `TemplateParser` and run by
/// `TemplateRenderState` on every render. Blocks are encoded with jump targets, so a
/// render walks plain structs (no tree of boxed nodes, no reference counting per node).

/// A variable reference as written in a tag (`name`, `env.name`, `.`, `../x`, `@index`).
struct TemplatePath: Sendable, Equatable {
    enum Base: Sendable, Equatable {
        /// A bare name: the first segment is looked up in the innermost `each` item, then
        /// outward through the enclosing items to the root context.
        case scope
        /// `.`, `this`, `./x`, `this.x`: the current item only.
        case current
        /// `../x` (n times `../`): skips the n innermost items, then looks outward.
        case parent(Int)
        /// `@root` / `@root.x`: the root context.
        case root
        /// `@index`, `@key`, `@first`, `@last`.
        case data(TemplateDataVariable)
    }

    var base: Base
    /// Keys (or array indices, when all digits) after the base.
    var segments: [String]
    /// The path as written, for messages.
    var text: String
}

enum TemplateDataVariable: String, Sendable, Equatable, CaseIterable {
    case index, key, first, last
}

enum TemplateBlockKind: String, Sendable, Equatable {
    case `if`, unless, each
}

/// One instruction. Operands by code:
/// - `text`: bytes `a..<b` of `TemplateProgram.text`
/// - `variable`: path `a`
/// - `ifBlock` / `unlessBlock` / `each`: path `a`; the body is ops `pc+1..<b`, the `{{else}}`
///   branch ops `b..<c`; execution continues at `c`
/// - `partial`: partial reference `a`
struct TemplateOp: Sendable {
    enum Code: UInt8, Sendable {
        case text, variable, ifBlock, unlessBlock, each, partial
    }
    var code: Code
    var a: Int32
    var b: Int32
    var c: Int32
}

struct TemplatePartialRef: Sendable {
    var name: String
    /// The whitespace before a standalone partial tag ("" otherwise).
    var indent: String
}

struct TemplateProgram: Sendable {
    var ops: [TemplateOp] = []
    /// Source position of each op's tag (parallel to `ops`; unused for text).
    var positions: [SourcePosition] = []
    /// All literal text, concatenated.
    var text: [UInt8] = []
    var paths: [TemplatePath] = []
    var partials: [TemplatePartialRef] = []
    /// Texts merge only with a text op at or after this index (set when a block closes or
    /// its else branch starts, so text never leaks into the block before it).
    var mergeBarrier = 0

    /// Emits the text bytes `start..<end` (already in `text`).
    mutating func emitText(_ start: Int, _ end: Int) {
        guard start < end else { return }
        // Adjacent texts (around a comment, say) become one op.
        if ops.count - 1 >= mergeBarrier, let last = ops.last, last.code == .text, Int(last.b) == start {
            ops[ops.count - 1].b = Int32(end)
            return
        }
        emit(TemplateOp(code: .text, a: Int32(start), b: Int32(end), c: 0), SourcePosition(line: 0, column: 0))
    }

    @discardableResult
    mutating func emit(_ op: TemplateOp, _ position: SourcePosition) -> Int {
        ops.append(op)
        positions.append(position)
        return ops.count - 1
    }

    mutating func addPath(_ path: TemplatePath) -> Int32 {
        paths.append(path)
        return Int32(paths.count - 1)
    }
}
