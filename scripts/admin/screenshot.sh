#!/usr/bin/env bash
# Renders the admin dashboard, seeded with a mix of jobs, in headless Chromium and saves it as
# Documentation/admin-dashboard.png (1280×900). Needs Chromium (`apt-get install chromium`) and
# PostgreSQL as the tests do (the binaries for a private cluster, or DATABASE_URL).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

JOBKIT_ADMIN_SCREENSHOT="$PWD/Documentation/admin-dashboard.png" \
    swift test --scratch-path "${SCRATCH_PATH:-.build-admin}" --filter 'JobKitAdminTests.BrowserTests/dashboardRendersToAScreenshot'
echo "wrote Documentation/admin-dashboard.png"
