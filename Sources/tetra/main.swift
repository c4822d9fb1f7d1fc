// The thin entry point: build the real context, run the CLI, exit. Only this file exits.
import FoundationEssentials
import Glibc
import TetraCLI
import TetraCore

// The wrapper every tool starts through, so that it dies with tetra (nothing else runs here).
if CommandLine.arguments.count > 2, CommandLine.arguments[1] == ParentDeath.command {
    let message = ParentDeath.exec(Array(CommandLine.arguments.dropFirst(2)))
    let line = Array("tetra: \(message)\n".utf8)
    _ = write(2, line, line.count)
    exit(127)
}

// Ctrl-C / SIGTERM: the handler only writes a byte to a pipe (async-signal-safe); a watcher
// thread raises the interrupt flag that long operations check between steps, so they unwind
// and leave state consistent (exit 130). A second signal exits at once. Handlers installed
// with sigaction are reset to the default in child processes on exec, so tools we run still
// receive Ctrl-C from the terminal normally.
nonisolated(unsafe) var signalPipe: [Int32] = [-1, -1]
_ = pipe(&signalPipe)
_ = fcntl(signalPipe[0], F_SETFD, FD_CLOEXEC)
_ = fcntl(signalPipe[1], F_SETFD, FD_CLOEXEC)

let interrupt = InterruptFlag()
for sig in [SIGINT, SIGTERM, SIGHUP] {
    var action = sigaction()
    action.__sigaction_handler.sa_handler = { signo in
        var byte = UInt8(truncatingIfNeeded: signo)
        _ = write(signalPipe[1], &byte, 1)
    }
    sigemptyset(&action.sa_mask)
    action.sa_flags = SA_RESTART
    sigaction(sig, &action, nil)
}
signal(SIGPIPE, SIG_IGN)

Threads.start(name: "tetra-signals") {
    var byte: UInt8 = 0
    while read(signalPipe[0], &byte, 1) == 1 {
        if interrupt.isRaised || !interrupt.unwindsGracefully {
            // Children run in their own process groups (the process runner does that), so
            // the terminal's Ctrl-C does not reach them: stop them before leaving.
            SystemProcessRunner.signalRunningChildren(SIGTERM)
            interrupt.runExitHandlers() // erases the live progress line
            exit(ExitCode.interrupted.rawValue)
        }
        interrupt.raise()
    }
}

let context = CLIContext.system(interrupt: interrupt)
let status = CLI().run(Array(CommandLine.arguments.dropFirst()), context: context)
exit(status)
