import FoundationEssentials

/// The error a `FakeProcessRunner` throws for a call no expectation matched.
public struct UnexpectedProcessCall: Error, Sendable, CustomStringConvertible, Equatable {
    public var argv: [String]
    public var reason: String
    public var description: String { "unexpected process call: \(argv.joined(separator: " ")) (\(reason))" }
}

/// A fail-closed `ProcessRunning` for unit tests. Tests register the calls they expect with
/// a canned result; any other call throws `UnexpectedProcessCall` and is recorded, and
/// `assertAllExpectationsMet()` lists every problem (unexpected calls and expectations that
/// were never used) so a test can `XCTAssertEqual(fake.assertAllExpectationsMet(), [])`.
///
/// `which` answers from the set of installed tools. Registering an expectation for a bare
/// program name marks it installed; `uninstall` removes it (to test "tool missing"). Like the
/// real runner, a call to a bare name that is not installed throws `ToolError.notInstalled`.
public final class FakeProcessRunner: ProcessRunning, @unchecked Sendable {
    public enum Ordering: Sendable {
        /// Calls must come in the order expectations were registered.
        case inOrder
        /// Each call uses the first unused expectation that matches it.
        case anyOrder
    }

    public enum Response: Sendable {
        case result(ProcessResult)
        case error(any Error & Sendable)
        case dynamic(@Sendable (ProcessRequest) throws -> ProcessResult)
    }

    struct Expectation {
        var label: String
        var matches: @Sendable (ProcessRequest) -> Bool
        var response: Response
        var remaining: Int
    }

    private let lock = Lock()
    private let ordering: Ordering
    private var expectations: [Expectation] = []
    private var installed: [String: String]
    private var recordedCalls: [ProcessRequest] = []
    private var problems: [String] = []

    /// `installed`: program names `which` finds (at `/usr/bin/<name>`).
    public init(ordering: Ordering = .inOrder, installed: [String] = []) {
        self.ordering = ordering
        self.installed = Dictionary(installed.map { ($0, "/usr/bin/" + $0) }, uniquingKeysWith: { a, _ in a })
    }

    // MARK: configuration

    public func install(_ tool: String, at path: String? = nil) {
        lock.lock(); defer { lock.unlock() }
        installed[tool] = path ?? "/usr/bin/" + tool
    }

    public func uninstall(_ tool: String) {
        lock.lock(); defer { lock.unlock() }
        installed[tool] = nil
    }

    /// Expects `executable args...` exactly (`times` calls), answering with `result`.
    public func expect(_ executable: String, _ args: [String], result: ProcessResult, times: Int = 1) {
        expect(executable, args, response: .result(result), times: times)
    }

    /// Expects `executable args...` exactly, answering with a canned stdout and status.
    public func expect(_ executable: String, _ args: [String], stdout: String = "", stderr: String = "", status: Int32 = 0) {
        expect(executable, args, result: ProcessResult(status: status, stdout: Data(stdout.utf8), stderr: Data(stderr.utf8)))
    }

    /// Expects `executable args...` exactly, answering with `response` (a result, an error to
    /// throw, or a closure computing the result from the request).
    public func expect(_ executable: String, _ args: [String], response: Response, times: Int = 1) {
        let label = ([executable] + args).joined(separator: " ")
        let matcher: @Sendable (ProcessRequest) -> Bool = { $0.executable == executable && $0.arguments == args }
        register(label: label, executable: executable, matcher: matcher, response: response, times: times)
    }

    /// Expects a call accepted by `matching` (for argv with temp paths, env checks, ...).
    public func expect(_ label: String, executable: String? = nil, matching: @escaping @Sendable (ProcessRequest) -> Bool,
                       response: Response, times: Int = 1) {
        register(label: label, executable: executable, matcher: matching, response: response, times: times)
    }

    private func register(label: String, executable: String?, matcher: @escaping @Sendable (ProcessRequest) -> Bool,
                          response: Response, times: Int) {
        lock.lock(); defer { lock.unlock() }
        if let executable, !executable.contains("/"), installed[executable] == nil {
            installed[executable] = "/usr/bin/" + executable
        }
        expectations.append(Expectation(label: label, matches: matcher, response: response, remaining: max(1, times)))
    }

    // MARK: inspection

    /// Every call made, in order (matched or not).
    public var calls: [ProcessRequest] { lock.lock(); defer { lock.unlock() }; return recordedCalls }

    /// Every call's argv (`[executable] + arguments`).
    public var callArgv: [[String]] { calls.map { [$0.executable] + $0.arguments } }

    /// The problems found so far: unexpected calls, and expectations never (fully) used.
    /// Empty when everything went as expected.
    public func assertAllExpectationsMet() -> [String] {
        lock.lock(); defer { lock.unlock() }
        var out = problems
        for e in expectations where e.remaining > 0 {
            out.append("expected call not made: \(e.label)" + (e.remaining > 1 ? " (\(e.remaining) more times)" : ""))
        }
        return out
    }

    // MARK: ProcessRunning

    public func which(_ executable: String) -> String? {
        lock.lock(); defer { lock.unlock() }
        if executable.contains("/") { return executable }
        return installed[executable]
    }

    public func run(_ request: ProcessRequest) throws -> ProcessResult {
        let response: Response
        do {
            lock.lock()
            defer { lock.unlock() }
            recordedCalls.append(request)
            let argv = [request.executable] + request.arguments
            if !request.executable.contains("/"), installed[request.executable] == nil {
                throw ToolError.notInstalled(tool: request.executable, hint: nil)
            }
            let index: Int?
            switch ordering {
            case .inOrder:
                if let next = expectations.firstIndex(where: { $0.remaining > 0 }), expectations[next].matches(request) {
                    index = next
                } else {
                    index = nil
                }
            case .anyOrder:
                index = expectations.firstIndex(where: { $0.remaining > 0 && $0.matches(request) })
            }
            guard let index else {
                let next = expectations.first(where: { $0.remaining > 0 })?.label
                let reason = next.map { ordering == .inOrder ? "next expected: \($0)" : "no expectation matches" } ?? "no more calls expected"
                let displayed = request.displayArgv
                problems.append("unexpected call: \(displayed.joined(separator: " ")) (\(reason))")
                throw UnexpectedProcessCall(argv: argv, reason: reason)
            }
            expectations[index].remaining -= 1
            response = expectations[index].response
        }
        switch response {
        case .result(let result): return result
        case .error(let error): throw error
        case .dynamic(let compute): return try compute(request)
        }
    }
}
