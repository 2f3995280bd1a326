#!/usr/bin/env bash
# The demo's HTML report in a real browser: headless Chromium opens the page written by
# `kqlflow demo --report`, and the DOM it renders must show the incidents, the timeline and the
# entity table, with the page's script run to its end (it writes #report-ready last) and no
# script error in the browser's log.
#
# Usage: .ci/report-check.sh [REPORT.html]   (without a file, the demo is run to write one)
#
# Chromium is installed from the Debian packages when it is missing; when it cannot be, the
# check is skipped with a message saying so (exit 0).
set -euo pipefail
cd "$(dirname "$0")/.."

find_browser() {
    local b
    for b in chromium chromium-headless-shell chrome-headless-shell google-chrome; do
        if command -v "$b" >/dev/null 2>&1; then
            command -v "$b"
            return 0
        fi
    done
    return 1
}

browser=$(find_browser || true)
if [ -z "$browser" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing headless Chromium from the Debian packages"
    sudo=""
    if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
        sudo="sudo -n"
    fi
    export DEBIAN_FRONTEND=noninteractive
    # Quick when the package lists are fresh; refreshed only when the first try fails.
    for pkg in chromium chromium-headless-shell; do
        if timeout 600 $sudo apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null 2>&1 ||
            { timeout 300 $sudo apt-get update -qq >/dev/null 2>&1 &&
                timeout 600 $sudo apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null 2>&1; }; then
            break
        fi
    done
    browser=$(find_browser || true)
fi
if [ -z "$browser" ]; then
    echo "SKIPPED: the report's browser check: Chromium is not installed and could not be installed"
    exit 0
fi
echo "browser: $browser ($("$browser" --version 2>/dev/null || echo 'version unknown'))"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
report=${1:-}
if [ -z "$report" ]; then
    report="$work/report.html"
    cargo run --locked --quiet -- demo --report "$report" >/dev/null 2>"$work/demo.err" || {
        cat "$work/demo.err"
        exit 1
    }
fi
[ -s "$report" ] || { echo "error: no report at $report"; exit 1; }
report=$(cd "$(dirname "$report")" && pwd)/$(basename "$report")

timeout 120 "$browser" --headless --disable-gpu --no-sandbox --no-first-run \
    --user-data-dir="$work/profile" --enable-logging=stderr --v=0 \
    --dump-dom "file://$report" >"$work/dom.html" 2>"$work/browser.log" || {
    echo "error: $browser could not render $report"
    tail -20 "$work/browser.log"
    exit 1
}

failed=0
check() {
    # check DESCRIPTION EXTENDED-REGEX [MINIMUM-COUNT]
    local n
    n=$( (grep -oE "$2" "$work/dom.html" || true) | wc -l)
    if [ "$n" -lt "${3:-1}" ]; then
        echo "FAIL: $1 (found $n of /$2/)"
        failed=1
    else
        echo "ok: $1 ($n)"
    fi
}
check "the page's script ran to its end" 'id="report-ready"'
check "the incidents" '<tr class="incident"'
check "the timeline" '<svg id="timeline"'
check "the timeline's lanes" '<g class="lane"'
check "the timeline's bars" '<rect x="[0-9.]+" y="[0-9.]+" width="[0-9.]+" height="[0-9.]+" fill="#[0-9a-f]+" fill-opacity="[0-9.]+"><title>'
check "the entity table" '<table id="entity-table">'
check "the entities" '<tbody class="ent"'
check "the ATT&CK matrix" '<div id="mitre-matrix"'
check "the tick latency plot" '<svg id="latency"'
check "the filters' count, written by the script" '[0-9]+ of [0-9]+ alerts shown'
# The filters: a copy of the page types the most alerted entity into the entity filter; the
# timeline must then count that entity's alerts, and the entity table show that entity only.
cat >"$work/filter.html" <<'SCRIPT'
<script>
(function () {
  var head = document.querySelector("tbody.ent tr.ent-head");
  var name = head.querySelector("th").textContent, alerts = head.children[2].textContent;
  var box = document.getElementById("f-entity");
  box.value = name;
  box.dispatchEvent(new Event("input"));
  var shown = document.querySelectorAll("tbody.ent:not(.hidden)").length;
  var status = document.getElementById("filter-status").textContent;
  var out = document.createElement("p");
  out.id = "filter-check";
  out.textContent = (status.indexOf(alerts + " of ") === 0 && shown >= 1 ? "ok" : "wrong") +
    ": " + name + ": " + status + ", " + shown + " entities";
  document.body.appendChild(out);
})();
</script>
SCRIPT
{
    sed 's|</body></html>||' "$report"
    cat "$work/filter.html"
    echo '</body></html>'
} >"$work/filtered.html"
timeout 120 "$browser" --headless --disable-gpu --no-sandbox --no-first-run \
    --user-data-dir="$work/profile" --enable-logging=stderr --v=0 \
    --dump-dom "file://$work/filtered.html" >"$work/filtered-dom.html" 2>>"$work/browser.log" || true
if grep -q '<p id="filter-check">ok' "$work/filtered-dom.html"; then
    echo "ok: the entity filter ($(grep -o '<p id="filter-check">[^<]*' "$work/filtered-dom.html" | sed 's/.*">//'))"
else
    echo "FAIL: the entity filter: $(grep -o '<p id="filter-check">[^<]*' "$work/filtered-dom.html" || echo 'its check did not run')"
    failed=1
fi
if grep -E "Uncaught|SyntaxError|TypeError|ReferenceError" "$work/browser.log"; then
    echo "FAIL: script errors in the browser's log (above)"
    failed=1
else
    echo "ok: no script error in the browser's log"
fi
exit "$failed"
