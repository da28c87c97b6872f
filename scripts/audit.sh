#!/usr/bin/env bash
# Dependency audit: pip-audit over the Python environment (.venv), `npm audit` in web/ and
# tests/js. Known vulnerabilities fail it; so does an audit that could not be done.
#
#   bash scripts/audit.sh            # exit 0: audited, nothing known at high severity or above
#                                    # exit 1: known vulnerabilities (listed)
#                                    # exit 2: some audit could not be done (reason printed):
#                                    #         never read that as "no vulnerabilities"
# Environment:
#   VENV=.venv                       the Python environment to audit
#   PIP_AUDIT_SERVICE=pypi           pip-audit's vulnerability service: pypi or osv
#   PIP_AUDIT_IGNORE="ID ..."        vulnerability ids accepted after review (say why in the commit)
#
# pip-audit asks its service about each installed distribution: the PyPI service reads
# https://pypi.org/pypi/<name>/<version>/json, the OSV service https://api.osv.dev/v1/query.
# When it gets no answer it still prints "No known vulnerabilities found" and exits 0, listing
# every package as skipped; this script counts the skipped ones and reports the audit as not
# done. `npm audit` posts to the registry's /-/npm/v1/security/advisories/bulk.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 2
VENV=${VENV:-.venv}
SERVICE=${PIP_AUDIT_SERVICE:-pypi}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
found=0        # 1 when a vulnerability is known
undone=0       # 1 when an audit could not be done

say() { printf '%s\n' "$*"; }

# --- Python -------------------------------------------------------------------------------
if [[ ! -x "$VENV/bin/python" ]]; then
    say "python: no environment at $VENV (run scripts/run.sh or scripts/test.sh first)"
    undone=1
else
    if ! "$VENV/bin/python" -m pip_audit --version >/dev/null 2>&1; then
        say "python: installing pip-audit into $VENV"
        "$VENV/bin/python" -m pip install --quiet pip-audit 2>&1 | grep -v "is ignored" || true
    fi
    ignores=()
    for id in ${PIP_AUDIT_IGNORE:-}; do ignores+=(--ignore-vuln "$id"); done
    # --local: this environment's packages only; --skip-editable: taskflow itself is not on PyPI.
    timeout 900 "$VENV/bin/python" -m pip_audit --local --skip-editable --progress-spinner off \
        --vulnerability-service "$SERVICE" --format json --output "$work/pip.json" \
        "${ignores[@]}" >"$work/pip.out" 2>&1
    rc=$?
    if [[ ! -s "$work/pip.json" ]]; then
        say "python: pip-audit did not run to the end (exit $rc):"
        tail -n 5 "$work/pip.out"
        undone=1
    else
        "$VENV/bin/python" - "$work/pip.json" "$SERVICE" <<'PY'
import json
import sys

report = json.load(open(sys.argv[1]))
service = sys.argv[2]
deps = report["dependencies"]
skipped = [d for d in deps if d.get("skip_reason")]
audited = [d for d in deps if not d.get("skip_reason")]
vulnerable = [d for d in audited if d.get("vulns")]
print(f"python: {len(audited)} of {len(deps)} packages audited against {service}, "
      f"{len(vulnerable)} with known vulnerabilities")
for dep in vulnerable:
    for vuln in dep["vulns"]:
        fixes = ", ".join(vuln.get("fix_versions") or []) or "no fix yet"
        print(f"  {dep['name']} {dep['version']}: {vuln['id']} (fixed in {fixes})")
if skipped:
    print(f"python: {len(skipped)} packages NOT audited, e.g. {skipped[0]['skip_reason']}")
    if not audited:
        print("python: no package could be audited: the vulnerability service gave no answer "
              "(PyPI's per-version JSON or OSV unreachable from here); this is no clean bill")
sys.exit(1 if vulnerable else 2 if skipped else 0)
PY
        case $? in
            0) ;;
            1) found=1 ;;
            *) undone=1 ;;
        esac
    fi
fi

# --- JavaScript ---------------------------------------------------------------------------
for dir in web tests/js; do
    [[ -f "$dir/package-lock.json" ]] || continue
    if ! command -v npm >/dev/null; then
        say "npm: not installed; $dir not audited"
        undone=1
        continue
    fi
    (cd "$dir" && timeout 300 npm audit --audit-level=high --json) >"$work/npm.json" 2>"$work/npm.err"
    node - "$dir" "$work/npm.json" <<'JS'
const fs = require("fs");
const [dir, file] = process.argv.slice(2);
let report;
try { report = JSON.parse(fs.readFileSync(file, "utf8")); } catch { report = {}; }
const counts = report.metadata && report.metadata.vulnerabilities;
if (!counts) {
  const why = report.message || (report.error && report.error.summary) || "no report";
  console.log(`npm: ${dir} NOT audited: ${why}`);
  process.exit(2);
}
const serious = (counts.high || 0) + (counts.critical || 0);
console.log(`npm: ${dir}: ${counts.total || 0} known vulnerabilities, ${serious} high or critical`);
for (const [name, v] of Object.entries(report.vulnerabilities || {})) {
  if (v.severity === "high" || v.severity === "critical") console.log(`  ${name}: ${v.severity} (${v.range})`);
}
process.exit(serious ? 1 : 0);
JS
    case $? in
        0) ;;
        1) found=1 ;;
        *) undone=1 ;;
    esac
done

if (( found )); then
    say "audit: known vulnerabilities (see above)"
    exit 1
fi
if (( undone )); then
    say "audit: NOT DONE for some dependencies (see above); nothing can be concluded about them"
    exit 2
fi
say "audit: no known vulnerabilities at high severity or above"
