// A worker process for JobKit's multi-process tests; see WorkerMain.swift.
await WorkerMain.main()
