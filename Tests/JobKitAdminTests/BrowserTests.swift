import Foundation
import JobKit
import JobKitAdmin
import Synchronization
import Testing

/// The web page in a real browser: headless Chromium loads it from a live server.
///
/// Chromium's command line can neither fill the login form nor send a header, so the test opens
/// `/admin/login?token=…&next=<page>`: the login sets the session cookie and redirects to the
/// page, which Chromium then renders; `--dump-dom` prints the DOM after the page loaded.
///
/// Without Chromium these tests fail (they never skip): `apt-get install chromium`.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct BrowserTests {
    /// Long enough that no reload happens while Chromium dumps the page.
    static let configuration = AdminServer.Configuration(port: 0, token: adminToken, pageRefreshInterval: .seconds(30))

    @Test func dashboardShowsStatusCountsAndJobRows() async throws {
        let chromium = try Chromium.locate()
        try await withAdminDatabase("browser_dash") { fixture in
            let failed = try await fixture.job(in: .failed, type: "ocr")
            _ = try await fixture.job(in: .scheduled)
            _ = try await fixture.job(in: .scheduled)
            _ = try await fixture.job(in: .done, options: .init(queue: "images"))
            let stuck = try await fixture.job(in: .inProgress, type: "report")
            try await fixture.expireLease(stuck.id)
            try await withLiveAdminServer(fixture, configuration: Self.configuration) { port in
                let dom = try await chromium.dumpDOM(Chromium.loginURL(port: port, next: "/admin/"))
                #expect(dom.contains("<h1>Dashboard</h1>"), "the browser reached the dashboard: \(dom.prefix(400))")
                #expect(dom.contains(#"data-count="scheduled">2<"#))
                #expect(dom.contains(#"data-count="failed">1<"#))
                #expect(dom.contains(#"data-count="done">1<"#))
                #expect(dom.contains(#"data-count="in_progress">1<"#))
                #expect(dom.contains(#"data-count="stuck">1<"#))
                #expect(dom.contains(#"data-queue="images""#))
                #expect(dom.contains(#"class="job-row" data-job-id="\#(apiID(failed.id))""#))
                let stuckTable = try #require(dom.range(of: #"id="stuck-jobs""#))
                let recentTable = try #require(dom.range(of: #"id="recent-jobs""#))
                #expect(dom[stuckTable.lowerBound..<recentTable.lowerBound].contains(apiID(stuck.id)))
                #expect(dom.contains(#"data-refresh="30""#))
            }
        }
    }

    @Test func jobListFiltersInTheBrowser() async throws {
        let chromium = try Chromium.locate()
        try await withAdminDatabase("browser_list") { fixture in
            let failed = try await fixture.job(in: .failed)
            let scheduled = try await fixture.job(in: .scheduled)
            try await withLiveAdminServer(fixture, configuration: Self.configuration) { port in
                let dom = try await chromium.dumpDOM(Chromium.loginURL(port: port, next: "/admin/ui/jobs?status=failed"))
                #expect(dom.contains(#"<table class="jobs" id="job-list">"#), "the browser reached the job list: \(dom.prefix(400))")
                #expect(dom.contains(#"data-job-id="\#(apiID(failed.id))""#))
                #expect(!dom.contains(apiID(scheduled.id)))
            }
        }
    }

    @Test func jobPageShowsItsHistoryAndButtons() async throws {
        let chromium = try Chromium.locate()
        try await withAdminDatabase("browser_job") { fixture in
            let job = try await fixture.job(in: .failed)
            _ = try await fixture.jobs.retry(job.id, actor: "alice")
            _ = try await fixture.jobs.start(job.id)
            try await fixture.jobs.fail(job.id, message: "second failure")
            try await withLiveAdminServer(fixture, configuration: Self.configuration) { port in
                let dom = try await chromium.dumpDOM(Chromium.loginURL(port: port, next: "/admin/ui/jobs/\(apiID(job.id))"))
                #expect(dom.contains(#"id="job-id">\#(apiID(job.id))<"#), "the browser reached the job page: \(dom.prefix(400))")
                #expect(dom.contains(#"data-job-status="failed""#))
                let history = try #require(dom.range(of: #"<table id="history">"#))
                let rows = dom[history.lowerBound...]
                #expect(rows.contains(#"data-kind="failed""#))
                #expect(rows.contains(#"data-kind="retried""#))
                #expect(rows.contains("factory failure"))
                #expect(rows.contains("alice"))
                #expect(dom.contains(#"id="error-message">second failure<"#))
                #expect(dom.contains("cat.png"))
                #expect(dom.contains(#"data-action="retry""#))
                #expect(dom.contains(#"data-action="force-reset""#))
            }
        }
    }

    /// Renders the dashboard to a PNG: to `JOBKIT_ADMIN_SCREENSHOT` when set (see
    /// scripts/admin/screenshot.sh), else to a temporary file.
    @Test func dashboardRendersToAScreenshot() async throws {
        let chromium = try Chromium.locate()
        let target =
            ProcessInfo.processInfo.environment["JOBKIT_ADMIN_SCREENSHOT"].map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("jobkit-admin-\(UUID()).png")
        try await withAdminDatabase("browser_shot") { fixture in
            try await Self.seedForScreenshot(fixture)
            try await withLiveAdminServer(fixture, configuration: Self.configuration) { port in
                try await chromium.screenshot(Chromium.loginURL(port: port, next: "/admin/"), to: target)
            }
        }
        let png = try Data(contentsOf: target)
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]), "a PNG")
        #expect(png.count > 10_000, "more than a blank page")
    }

    /// A plausible mix: several queues and types, every status, a stuck job.
    static func seedForScreenshot(_ fixture: AdminFixture) async throws {
        let kinds: [(String, String, JobStatus)] = [
            ("thumbnail", "images", .done), ("thumbnail", "images", .done), ("thumbnail", "images", .scheduled),
            ("ocr", "documents", .done), ("ocr", "documents", .failed), ("ocr", "documents", .inProgress),
            ("email", "default", .done), ("email", "default", .scheduled), ("email", "default", .cancelled),
            ("report", "reports", .inProgress), ("import", "default", .failed), ("thumbnail", "images", .inProgress),
        ]
        for (type, queue, status) in kinds {
            let job = try await fixture.job(in: status, type: type, options: .init(queue: queue), payload: ["source": "\(type)-\(queue)"])
            if status == .inProgress {
                _ = try await fixture.jobs.reportProgress(job.id, percent: type == "report" ? 0 : 40, step: type == "report" ? nil : "pages")
            }
            if type == "report" { try await fixture.expireLease(job.id) }
        }
    }
}

/// Headless Chromium, run as a child process.
struct Chromium: Sendable {
    let executable: String

    /// Finds Chromium.
    /// - Throws: A failure that says how to install it: these tests never skip.
    static func locate() throws -> Chromium {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let candidates = ["chromium", "chromium-browser"].flatMap { name in
            path.split(separator: ":").map { "\($0)/\(name)" }
        }
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw ChromiumMissing()
        }
        return Chromium(executable: found)
    }

    struct ChromiumMissing: Error, CustomStringConvertible {
        var description: String {
            "Chromium is not installed, so the admin page cannot be tested in a browser: run `apt-get install chromium` (Debian), then run the tests again"
        }
    }

    /// The one-step login that leads the browser to `next`.
    static func loginURL(port: Int, next: String) -> String {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
        let encoded = next.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
        return "http://127.0.0.1:\(port)/admin/login?token=\(adminToken)&next=\(encoded)"
    }

    /// The DOM of `url` once loaded.
    func dumpDOM(_ url: String) async throws -> String {
        let output = try await self.run(["--dump-dom", url])
        return output
    }

    /// Saves a 1280×900 screenshot of `url` to `file`.
    func screenshot(_ url: String, to file: URL) async throws {
        try? FileManager.default.removeItem(at: file)
        _ = try await self.run(["--screenshot=\(file.path)", "--window-size=1280,900", "--hide-scrollbars", url])
        try #require(FileManager.default.fileExists(atPath: file.path), "Chromium wrote no screenshot to \(file.path)")
    }

    /// Runs Chromium headless with a profile of its own; returns what it printed. Kills it
    /// (its own process id only) if it runs past `timeout`.
    private func run(_ arguments: [String], timeout: Duration = .seconds(120)) async throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("jobkit-chromium-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let stdoutFile = folder.appendingPathComponent("stdout")
        let stderrFile = folder.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: stdoutFile.path, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrFile.path, contents: nil)
        let stdout = try FileHandle(forWritingTo: stdoutFile)
        let stderr = try FileHandle(forWritingTo: stderrFile)
        defer {
            try? stdout.close()
            try? stderr.close()
        }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: self.executable)
        process.arguments = [
            "--headless", "--disable-gpu", "--no-sandbox", "--disable-dev-shm-usage", "--no-first-run",
            "--no-default-browser-check", "--disable-extensions", "--user-data-dir=\(folder.appendingPathComponent("profile").path)",
        ] + arguments
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice
        let box = ProcessBox(process)
        let status: Int32 = try await withThrowingTaskGroup(of: Int32?.self) { group in
            group.addTask {
                await withCheckedContinuation { (continuation: CheckedContinuation<Int32?, Never>) in
                    box.process.terminationHandler = { finished in continuation.resume(returning: finished.terminationStatus) }
                    do {
                        try box.process.run()
                    } catch {
                        box.process.terminationHandler = nil
                        continuation.resume(returning: nil)
                    }
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            let first = try await group.next() ?? nil
            group.cancelAll()
            if first == nil, box.process.isRunning {
                box.process.terminate()
                throw ChromiumFailed(message: "Chromium ran longer than \(timeout) for \(arguments.last ?? "")")
            }
            return try #require(first, "Chromium did not start: \(self.executable)")
        }
        let output = String(decoding: (try? Data(contentsOf: stdoutFile)) ?? Data(), as: UTF8.self)
        guard status == 0 else {
            let errors = String(decoding: (try? Data(contentsOf: stderrFile)) ?? Data(), as: UTF8.self)
            throw ChromiumFailed(message: "Chromium exited with status \(status): \(errors.suffix(2000))")
        }
        return output
    }

    struct ChromiumFailed: Error, CustomStringConvertible {
        var message: String
        var description: String { self.message }
    }
}

/// Carries a `Process` into the task group. `Process` is not `Sendable`; it is configured before
/// it starts and afterwards only run, queried and terminated, which Foundation allows from any thread.
private final class ProcessBox: @unchecked Sendable {
    let process: Process
    init(_ process: Process) { self.process = process }
}
