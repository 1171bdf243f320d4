# SPDX-License-Identifier: GPL-2.0
# The host tests' common start (source it from bash): strict mode, the repository root ($top) as the
# working directory, and TAP lines without numbers: `ok TEXT', `not_ok TEXT' (sets failed=1) and
# `show FILE...' (a log, as TAP comments).
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$top"
failed=0
ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; failed=1; }
show() { sed 's/^/#   /' "$@"; }
