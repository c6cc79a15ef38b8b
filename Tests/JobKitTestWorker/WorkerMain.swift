import Foundation

/// Placeholder entry point; the multi-process test suite fills it in.
enum WorkerMain {
    static func main() async {}
}
