#!/usr/bin/env bash
# The lab's page in a real browser: renders index.html in headless Chromium
# (the Debian package) and checks that every plot (one per SVG the lab
# wrote), the claims table with a row and a verdict per claim in
# report.json, the "which model when" table and the machine block are laid
# out, big enough, visible and not covered. Then it hides a plot, and the
# claims table, in copies of the page and checks that the check fails.
#
#   scripts/check-lab-page.sh            runs `iomux lab --quick` (N <= 100) into a temp dir
#   scripts/check-lab-page.sh DIR        checks DIR/index.html (DIR/report.json beside it)
#   SCREENSHOT=x.png scripts/...         also saves a screenshot of the top of the page
#   IOMUX=path/to/iomux                  the binary (default target/debug/iomux, built if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
here=$PWD

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v jq >/dev/null 2>&1 || missing+=(jq)
# CJK glyphs for the claims' Chinese originals in screenshots.
if [ -n "${SCREENSHOT:-}" ] && ! fc-list :lang=zh 2>/dev/null | grep -q .; then
  missing+=(fonts-wqy-microhei)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ $# -ge 1 ]; then
  dir=$(cd "$1" && pwd)
else
  bin=${IOMUX:-target/debug/iomux}
  [ -x "$bin" ] || cargo build -q -p iomux-cli --bin iomux
  dir=$work/report
  echo "running $bin lab --quick --max-conns 100 --no-perf into $dir"
  if ! timeout 300 "$bin" lab --quick --max-conns 100 --no-perf --out "$dir" </dev/null >"$work/lab.log" 2>&1; then
    tail -n 30 "$work/lab.log"
    echo "FAIL: the quick lab did not finish" >&2
    exit 1
  fi
fi
[ -f "$dir/index.html" ] && [ -f "$dir/report.json" ] || { echo "FAIL: no index.html and report.json in $dir" >&2; exit 1; }

chrome() {
  # A profile of its own each time; no network, no first-run work.
  local profile
  profile=$(mktemp -d "$work/profile.XXXX")
  timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --hide-scrollbars --user-data-dir="$profile" "$@" 2>>"$work/chromium.log"
}

# probe PAGE EXTRA_HEAD: the probe's JSON for a copy of PAGE with EXTRA_HEAD
# (a <style>, to break the page on purpose) and the probe script added. The
# copy lives beside the page, so that what it links resolves as it would.
probe() {
  local copy="$dir/.check-lab-page-$$.html"
  {
    local html
    html=$(<"$1")
    printf '%s\n' "${html/<\/head>/$2</head>}"
    printf '<script>\n'
    cat "$here/scripts/check-lab-page/probe.js"
    printf '</script>\n'
  } >"$copy"
  local dom
  dom=$(chrome --window-size=1280,1000 --dump-dom "file://$copy") || true
  rm -f "$copy"
  sed -n 's#.*<pre id="probe-result">\([A-Za-z0-9+/=]*\)</pre>.*#\1#p' <<<"$dom" | base64 -d 2>/dev/null
}

# check PROBE_JSON: prints each problem; fails if there is one.
check() {
  local json=$1 problems
  local expected_plots claims
  expected_plots=$(cd "$dir" && ls -1 ./*.svg 2>/dev/null | sed 's#^\./##' | sort | jq -R . | jq -cs .)
  claims=$(jq -c '[.claims[] | .id]' "$dir/report.json")
  problems=$(jq -r --argjson plots "$expected_plots" --argjson claims "$claims" '
    def box(name): if .present != true then "\(name): not on the page"
      elif .shown != true then "\(name): hidden"
      elif .on_top != true then "\(name): covered by something else"
      else empty end;
    ( [.plots[].file] | sort ) as $got
    | (if $got != $plots then "plots on the page \($got) differ from the SVGs written \($plots)" else empty end),
      (.plots[] | . as $p
        | (box("plot \($p.file)")),
          (if $p.present == true and ($p.w < 300 or $p.h < 150) then "plot \($p.file): only \($p.w)x\($p.h) px" else empty end),
          (if $p.lines < 1 then "plot \($p.file): no line drawn" else empty end),
          (if ($p.caption | test("Measured:.*Sweep:"; "s") | not) then "plot \($p.file): no caption saying what is measured and on which sweep" else empty end),
          (.caption_box | box("caption of \($p.file)"))),
      (.claims | box("claims table")),
      (if .claims.present == true and .claims.w < 600 then "claims table: only \(.claims.w) px wide" else empty end),
      (if ([.rows[].id]) != $claims then "claims table rows \([.rows[].id]) differ from report.json claims \($claims)" else empty end),
      (.rows[] | . as $r | (box("claim \($r.id)")), (if ($r.verdict | length) < 5 then "claim \($r.id): no verdict" else empty end)),
      (.advice | box("which-model-when table")),
      (.machine | box("machine block"))
  ' <<<"$json")
  if [ -n "$problems" ]; then
    printf '  %s\n' "$problems"
    return 1
  fi
}

page=$dir/index.html
json=$(probe "$page" "")
if [ -z "$json" ]; then
  tail -n 20 "$work/chromium.log" >&2
  echo "FAIL: Chromium produced no probe result for $page" >&2
  exit 1
fi
if ! check "$json"; then
  echo "FAIL: $page as Chromium laid it out" >&2
  exit 1
fi
echo "ok: $(jq '.plots | length' <<<"$json") plots, the claims table ($(jq '.rows | length' <<<"$json") claims), which model when and the machine are visible in $page"

# The check must be able to fail: hide one plot, then the claims table,
# and the check must say so.
first=$(jq -r '.plots[0].file' <<<"$json")
for case in "#plot-${first%.svg}{visibility:hidden}|plot $first: hidden" \
            "#claims-table{display:none}|claims table: hidden"; do
  style=${case%%|*} expected=${case#*|}
  if said=$(check "$(probe "$page" "<style>$style</style>")"); then
    echo "FAIL: the check did not notice $style" >&2
    exit 1
  fi
  if ! grep -qF "$expected" <<<"$said"; then
    printf 'FAIL: with %s the check said:\n%s\n(expected "%s")\n' "$style" "$said" "$expected" >&2
    exit 1
  fi
done
echo "ok: the check fails when a plot or the claims table is hidden"

if [ -n "${SCREENSHOT:-}" ]; then
  chrome --window-size=1280,1800 --screenshot="$work/shot.png" "file://$page" >/dev/null
  mkdir -p "$(dirname "$SCREENSHOT")"
  cp "$work/shot.png" "$SCREENSHOT"
  echo "screenshot: $SCREENSHOT"
fi
