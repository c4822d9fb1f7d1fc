/// The parsed form of a template: a tree of nodes built once by `TemplateParser` and
/// walked by `TemplateRenderState` on every render.

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

/// One node of the tree. Text is kept as UTF-8 bytes, ready to append to the output.
indirect enum TemplateNode: Sendable {
    case text([UInt8])
    case variable(TemplatePath, SourcePosition)
    /// `{{#if}}` / `{{#unless}}` (negated).
    case conditional(TemplatePath, negated: Bool, then: [TemplateNode], otherwise: [TemplateNode], SourcePosition)
    case each(TemplatePath, body: [TemplateNode], otherwise: [TemplateNode], SourcePosition)
    /// `{{> name}}`; `indent` is the whitespace before a standalone partial tag.
    case partial(name: String, indent: String, SourcePosition)
}
