import FoundationEssentials

/// Human units for progress: `512 B`, `30.2 MB`, `306 MB`, `1.2 GB` (powers of 1000, three
/// significant figures at most); elapsed time `0:07`, `12:05`, `1:02:03`.
public enum ProgressFormat {
    public static func bytes(_ count: Int64) -> String {
        var n = max(0, count)
        var unit: Int64 = 1
        while unit <= Int64.max / 1000, n >= unit * 1000 { unit *= 1000 }
        // SizeValue keeps one decimal; from 100 units on, whole units are enough.
        if unit > 1, n >= unit * 100 { n = (n + unit / 2) / unit * unit }
        let text = SizeValue.format(n, binary: false)
        guard let i = text.firstIndex(where: { $0.isLetter }) else { return text }
        return String(text[..<i]) + " " + String(text[i...])
    }

    public static func elapsed(_ seconds: Double) -> String {
        let t = seconds.isFinite ? max(0, Int(seconds)) : 0
        let h = t / 3600, m = (t / 60) % 60, s = t % 60
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return h > 0 ? "\(h):\(two(m)):\(two(s))" : "\(m):\(two(s))"
    }
}
