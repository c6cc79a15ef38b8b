import Mustache

/// The web page's Mustache templates, as string constants so the module needs no resource
/// bundle. `{{…}}` escapes HTML; the page's style and script carry the response's CSP nonce.
enum AdminTemplates {
    /// The templates, parsed once.
    static let library: MustacheLibrary = {
        var library = MustacheLibrary()
        for (name, text) in Self.all {
            do {
                try library.register(text, named: name)
            } catch {
                // The templates are constants of this file: a parse error is a programmer error.
                preconditionFailure("admin template \(name) does not parse: \(error)")
            }
        }
        return library
    }()

    static let all: [(String, String)] = [
        ("header", Self.header),
        ("footer", Self.footer),
        ("jobTable", Self.jobTable),
        ("dashboard", Self.dashboard),
        ("jobs", Self.jobs),
        ("job", Self.job),
        ("login", Self.login),
        ("error", Self.error),
    ]

    // MARK: - Layout

    static let header = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{title}} · JobKit admin</title>
        <style nonce="{{nonce}}">
        :root { --bg: #f5f6f8; --fg: #1c2230; --muted: #6b7280; --card: #fff; --line: #e2e5ea; --accent: #2f6fed; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; background: var(--bg); color: var(--fg); }
        a { color: var(--accent); }
        header { background: #1c2230; color: #fff; padding: 0 24px; display: flex; align-items: center; gap: 28px; height: 52px; }
        header .brand { font-weight: 700; font-size: 16px; letter-spacing: .01em; }
        header nav a { color: #c9d1e0; text-decoration: none; margin-right: 18px; }
        header nav a.active { color: #fff; font-weight: 600; }
        header form { margin-left: auto; }
        header button { background: none; border: 1px solid #4b5466; color: #c9d1e0; border-radius: 6px; padding: 4px 10px; cursor: pointer; }
        main { padding: 20px 24px 40px; max-width: 1240px; margin: 0 auto; }
        h1 { font-size: 20px; margin: 4px 0 16px; display: flex; align-items: center; gap: 10px; }
        h2 { font-size: 15px; margin: 26px 0 8px; }
        .muted { color: var(--muted); }
        .mono { font-family: ui-monospace, SFMono-Regular, Menlo, "DejaVu Sans Mono", monospace; font-size: 12px; }
        .cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 12px; }
        .card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; color: inherit; text-decoration: none; display: block; }
        a.card:hover { border-color: var(--accent); }
        .card .label { color: var(--muted); font-size: 11px; text-transform: uppercase; letter-spacing: .05em; }
        .card .value { font-size: 24px; font-weight: 650; }
        .card.small .value { font-size: 16px; }
        .card.warn { border-color: #e5a00d; background: #fff8e6; }
        .card.status-card { border-top: 4px solid var(--line); }
        .card.status-card.s-scheduled { border-top-color: #3b82f6; }
        .card.status-card.s-in_progress { border-top-color: #8b5cf6; }
        .card.status-card.s-done { border-top-color: #16a34a; }
        .card.status-card.s-failed { border-top-color: #dc2626; }
        .card.status-card.s-cancelled { border-top-color: #9ca3af; }
        table { width: 100%; border-collapse: separate; border-spacing: 0; background: var(--card); border: 1px solid var(--line); border-radius: 8px; overflow: hidden; }
        th, td { text-align: left; padding: 7px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
        tr:last-child td { border-bottom: none; }
        th { background: #f0f2f5; font-weight: 600; font-size: 12px; color: #4b5563; }
        td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
        .badge { display: inline-block; padding: 1px 9px; border-radius: 10px; font-size: 12px; font-weight: 600; white-space: nowrap; }
        .status-scheduled { background: #e0ecff; color: #1d4ed8; }
        .status-in_progress { background: #ede4ff; color: #6d28d9; }
        .status-done { background: #dcfce7; color: #15803d; }
        .status-failed { background: #fee2e2; color: #b91c1c; }
        .status-cancelled { background: #eceef1; color: #4b5563; }
        progress { width: 90px; height: 10px; vertical-align: middle; }
        pre { background: #111827; color: #e5e7eb; padding: 12px 14px; border-radius: 8px; overflow: auto; max-height: 360px; margin: 0; font-size: 12px; }
        pre.error-text { background: #2a1215; color: #fecaca; }
        .notice { border-radius: 8px; padding: 10px 14px; margin: 0 0 16px; }
        .notice.ok { background: #dcfce7; color: #14532d; }
        .notice.error { background: #fee2e2; color: #7f1d1d; }
        .notice ul { margin: 4px 0 0 18px; padding: 0; }
        .actions { display: flex; gap: 8px; margin: 0 0 16px; flex-wrap: wrap; }
        button.action { border: 1px solid var(--line); background: #fff; border-radius: 6px; padding: 6px 12px; cursor: pointer; font: inherit; }
        button.action:hover { border-color: var(--accent); }
        button.action.danger { color: #b91c1c; border-color: #f3c4c4; }
        .columns { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
        .columns > div { min-width: 0; }
        table.props th { width: 34%; background: #f7f8fa; }
        form.filters { display: flex; flex-wrap: wrap; gap: 10px; align-items: flex-end; background: var(--card); border: 1px solid var(--line); padding: 12px; border-radius: 8px; margin-bottom: 16px; }
        form.filters label { display: flex; flex-direction: column; font-size: 11px; color: var(--muted); gap: 3px; text-transform: uppercase; letter-spacing: .04em; }
        form.filters input, form.filters select { font: inherit; padding: 5px 7px; border: 1px solid var(--line); border-radius: 6px; min-width: 120px; }
        form.filters button, form.login button { font: inherit; padding: 6px 14px; border-radius: 6px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; }
        form.login { max-width: 360px; margin: 60px auto; background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 24px; display: flex; flex-direction: column; gap: 12px; }
        form.login input { font: inherit; padding: 8px; border: 1px solid var(--line); border-radius: 6px; }
        .pager { margin-top: 12px; }
        </style>
        </head>
        <body data-refresh="{{refreshSeconds}}">
        <header>
        <span class="brand">JobKit admin</span>
        {{#showNav}}
        <nav>
        <a href="/admin/"{{#navDashboard}} class="active"{{/navDashboard}}>Dashboard</a>
        <a href="/admin/ui/jobs"{{#navJobs}} class="active"{{/navJobs}}>Jobs</a>
        </nav>
        {{/showNav}}
        {{#showLogout}}<form method="post" action="/admin/logout"><button type="submit">Log out</button></form>{{/showLogout}}
        </header>
        <main>

        """

    static let footer = """
        </main>
        <script nonce="{{nonce}}">
        (function () {
          "use strict";
          var refresh = parseInt(document.body.getAttribute("data-refresh") || "0", 10);
          var busy = false;
          if (refresh > 0) {
            setInterval(function () {
              var active = document.activeElement;
              var typing = active && /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName);
              if (!busy && !typing && !document.hidden) { window.location.reload(); }
            }, refresh * 1000);
          }
          var message = document.getElementById("action-message");
          function show(text) {
            if (!message) { return; }
            message.textContent = text;
            message.hidden = false;
          }
          Array.prototype.forEach.call(document.querySelectorAll("button[data-action]"), function (button) {
            button.addEventListener("click", function () {
              var body = {};
              var mode = button.getAttribute("data-reason");
              if (mode) {
                var reason = window.prompt("Reason for " + button.textContent.trim() + (mode === "required" ? " (required):" : " (optional):"), "");
                if (reason === null) { return; }
                if (mode === "required" && reason.trim() === "") { show("A reason is required."); return; }
                if (reason.trim() !== "") { body.reason = reason; }
              }
              busy = true;
              fetch(button.getAttribute("data-url"), {
                method: "POST",
                credentials: "same-origin",
                headers: { "Content-Type": "application/json", "X-JobKit-Admin": "1" },
                body: JSON.stringify(body)
              }).then(function (response) {
                return response.json().catch(function () { return null; }).then(function (json) {
                  if (response.ok) { window.location.reload(); return; }
                  busy = false;
                  show(json && json.error ? json.error.message : "The request failed with status " + response.status + ".");
                });
              }).catch(function () {
                busy = false;
                show("The server could not be reached.");
              });
            });
          });
        })();
        </script>
        </body>
        </html>

        """

    // MARK: - Parts

    static let jobTable = """
        <table class="jobs" id="{{tableID}}">
        <thead><tr><th>Job</th><th>Type</th><th>Queue</th><th>Status</th><th>Progress</th><th class="num">Attempt</th><th>Created (UTC)</th><th>Updated (UTC)</th></tr></thead>
        <tbody>
        {{#rows}}
        <tr class="job-row" data-job-id="{{id}}" data-job-status="{{status}}">
        <td class="mono"><a href="{{link}}">{{shortID}}</a></td>
        <td>{{type}}</td>
        <td>{{queue}}</td>
        <td><span class="badge status-{{status}}">{{statusLabel}}</span>{{#cancelRequested}} <span class="muted">cancel requested</span>{{/cancelRequested}}{{#leaseExpired}} <span class="badge status-failed">lease expired</span>{{/leaseExpired}}</td>
        <td><progress max="100" value="{{progress}}"></progress> {{progress}}%{{#hasStep}} <span class="muted">{{step}}</span>{{/hasStep}}</td>
        <td class="num">{{attempt}}/{{maxAttempts}}</td>
        <td>{{createdAt}}</td>
        <td>{{updatedAt}}</td>
        </tr>
        {{/rows}}
        {{^rows}}
        <tr><td colspan="8" class="muted">{{emptyText}}</td></tr>
        {{/rows}}
        </tbody>
        </table>

        """

    // MARK: - Pages

    static let dashboard = """
        {{> header}}
        {{#content}}
        <h1>Dashboard</h1>
        {{^healthy}}
        <div class="notice error" id="health-problems"><strong>Not healthy</strong><ul>{{#problems}}<li>{{.}}</li>{{/problems}}</ul></div>
        {{/healthy}}
        <section class="cards" id="status-counts">
        {{#statusCards}}
        <a class="card status-card s-{{status}}" href="{{link}}" data-status="{{status}}"><div class="label">{{label}}</div><div class="value" data-count="{{status}}">{{count}}</div></a>
        {{/statusCards}}
        <div class="card"><div class="label">Total</div><div class="value" data-count="total">{{total}}</div></div>
        <div class="card{{#hasStuck}} warn{{/hasStuck}}"><div class="label">Stuck</div><div class="value" data-count="stuck">{{stuck}}</div></div>
        </section>
        <h2>Throughput</h2>
        <section class="cards">
        <div class="card small"><div class="label">Running, leased</div><div class="value">{{leased}}</div></div>
        <div class="card small"><div class="label">Finished last minute</div><div class="value">{{finishedLastMinute}}</div></div>
        <div class="card small"><div class="label">Mean run ({{windowText}})</div><div class="value">{{averageRun}}</div></div>
        <div class="card small"><div class="label">p95 run ({{windowText}})</div><div class="value">{{p95Run}}</div></div>
        <div class="card small"><div class="label">Oldest waiting since</div><div class="value">{{oldestScheduled}}</div></div>
        <div class="card small"><div class="label">Workers</div><div class="value">{{workerCount}}</div></div>
        </section>
        <h2>Queues</h2>
        <table id="queues">
        <thead><tr><th>Queue</th>{{#statusNames}}<th class="num">{{.}}</th>{{/statusNames}}<th class="num">total</th></tr></thead>
        <tbody>
        {{#queues}}
        <tr data-queue="{{name}}"><td><a href="{{link}}">{{name}}</a></td>{{#counts}}<td class="num">{{.}}</td>{{/counts}}<td class="num">{{queueTotal}}</td></tr>
        {{/queues}}
        {{^queues}}
        <tr><td colspan="7" class="muted">No jobs yet.</td></tr>
        {{/queues}}
        </tbody>
        </table>
        <h2>Stuck jobs <span class="muted">(running, lease expired)</span></h2>
        {{#stuckTable}}{{> jobTable}}{{/stuckTable}}
        <h2>Recent jobs</h2>
        {{#recentTable}}{{> jobTable}}{{/recentTable}}
        <p class="pager"><a href="/admin/ui/jobs">All jobs →</a></p>
        {{/content}}
        {{> footer}}
        """

    static let jobs = """
        {{> header}}
        {{#content}}
        <h1>Jobs</h1>
        <form class="filters" method="get" action="/admin/ui/jobs">
        <label>Status<select name="status"><option value="">any</option>{{#statusOptions}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{value}}</option>{{/statusOptions}}</select></label>
        <label>Type<input name="type" value="{{filterType}}"></label>
        <label>Queue<input name="queue" value="{{filterQueue}}"></label>
        <label>Reference type<input name="reference_type" value="{{filterReferenceType}}"></label>
        <label>Reference id<input name="reference_id" value="{{filterReferenceID}}"></label>
        <label>Created after (UTC)<input name="created_after" placeholder="2025-01-31T00:00" value="{{filterCreatedAfter}}"></label>
        <label>Created before (UTC)<input name="created_before" placeholder="2025-02-01T00:00" value="{{filterCreatedBefore}}"></label>
        <label>Per page<input name="limit" type="number" min="1" max="1000" value="{{limit}}"></label>
        <button type="submit">Filter</button>
        <a href="/admin/ui/jobs">Clear</a>
        </form>
        {{#table}}{{> jobTable}}{{/table}}
        {{#hasNextPage}}<p class="pager"><a id="next-page" href="{{nextPageLink}}">Next page →</a></p>{{/hasNextPage}}
        {{/content}}
        {{> footer}}
        """

    static let job = """
        {{> header}}
        {{#content}}
        <p><a href="/admin/ui/jobs">← Jobs</a></p>
        {{#detail}}
        <h1>{{type}} <span class="badge status-{{status}}" id="job-status" data-job-status="{{status}}">{{statusLabel}}</span></h1>
        <p class="mono muted" id="job-id">{{id}}</p>
        <div id="action-message" class="notice error" hidden></div>
        <div class="actions" id="actions">
        {{#actions}}<button type="button" class="action{{#danger}} danger{{/danger}}" data-action="{{name}}" data-url="{{url}}" data-reason="{{reasonMode}}">{{label}}</button>{{/actions}}
        {{^actions}}<span class="muted">No action applies to a {{statusLabel}} job.</span>{{/actions}}
        </div>
        <div class="columns">
        <div>
        <table class="props" id="job-properties">
        <tr><th>Queue</th><td>{{queue}}</td></tr>
        <tr><th>Priority</th><td>{{priority}}</td></tr>
        <tr><th>Attempt</th><td>{{attempt}} of {{maxAttempts}}</td></tr>
        <tr><th>Progress</th><td><progress max="100" value="{{progress}}"></progress> {{progress}}%{{#hasStep}} · {{step}}{{/hasStep}}</td></tr>
        <tr><th>Reference</th><td>{{referenceText}}</td></tr>
        <tr><th>Unique key</th><td>{{uniqueKeyText}}</td></tr>
        <tr><th>Timeout</th><td>{{timeoutText}}</td></tr>
        <tr><th>Lease</th><td>{{leaseText}}</td></tr>
        {{#cancelRequested}}<tr><th>Cancel requested</th><td>{{cancelRequestedAt}}</td></tr>{{/cancelRequested}}
        </table>
        </div>
        <div>
        <table class="props" id="job-times">
        <tr><th>Created</th><td>{{createdAt}}</td></tr>
        <tr><th>Runs at</th><td>{{runAt}}</td></tr>
        <tr><th>Started</th><td>{{startedAt}}</td></tr>
        <tr><th>Finished</th><td>{{finishedAt}}</td></tr>
        <tr><th>Updated</th><td>{{updatedAt}}</td></tr>
        </table>
        </div>
        </div>
        <h2>Payload</h2>
        <pre id="payload">{{payload}}</pre>
        {{#hasResult}}<h2>Result</h2>
        <pre id="result">{{result}}</pre>{{/hasResult}}
        {{#hasError}}<h2>Error</h2>
        <pre class="error-text" id="error-message">{{errorMessage}}</pre>{{/hasError}}
        {{/detail}}
        <h2>History</h2>
        <table id="history">
        <thead><tr><th>When (UTC)</th><th>What</th><th>Change</th><th>Message</th><th>Who</th><th class="num">Attempt</th></tr></thead>
        <tbody>
        {{#events}}
        <tr class="event" data-kind="{{kind}}"><td>{{at}}</td><td>{{kind}}</td><td>{{change}}</td><td>{{eventMessage}}</td><td>{{actor}}</td><td class="num">{{eventAttempt}}</td></tr>
        {{/events}}
        {{^events}}
        <tr><td colspan="6" class="muted">Nothing recorded yet: the history keeps failures, retries, cancellations and operator actions.</td></tr>
        {{/events}}
        </tbody>
        </table>
        {{/content}}
        {{> footer}}
        """

    static let login = """
        {{> header}}
        {{#content}}
        <form class="login" method="post" action="/admin/login">
        <h1>Log in</h1>
        {{#failed}}<div class="notice error" id="login-error">That token is not valid.</div>{{/failed}}
        <label for="token">Admin token</label>
        <input id="token" name="token" type="password" autocomplete="current-password" autofocus required>
        <input type="hidden" name="next" value="{{next}}">
        <button type="submit">Log in</button>
        <p class="muted">The token is the server's <span class="mono">JOBKIT_ADMIN_TOKEN</span>. The session lasts {{sessionText}} and ends when the server restarts.</p>
        </form>
        {{/content}}
        {{> footer}}
        """

    static let error = """
        {{> header}}
        {{#content}}
        <h1>{{heading}}</h1>
        <div class="notice error" id="error" data-code="{{code}}">{{message}}</div>
        <p><a href="/admin/">Dashboard</a> · <a href="/admin/ui/jobs">Jobs</a></p>
        {{/content}}
        {{> footer}}
        """
}
