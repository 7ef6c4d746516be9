#!/usr/bin/env bash
# Runs the services' benchmarks once each and prints their figures with ratios
# against baselines measured in the same run, on the same machine:
#
#   collector  BenchmarkPixel, BenchmarkEventsBatch,  vs  BenchmarkBareHTTP (a bare net/http handler)
#              BenchmarkNumbers (number leases)
#   loader     BenchmarkLoader                        vs  BenchmarkEngineInsertSelect (the engine alone)
#   dedup      BenchmarkPixel, BenchmarkEventsBatch, BenchmarkLoaderDedup  vs  the same without
#              deduplication by event id (…NoDedup, BenchmarkLoader)
#   pipeline   BenchmarkFreshness p50/p99: collector acceptance → row in ClickHouse
#   alerter    BenchmarkAlertLatency p50/p99: the record that breaks a rule → its notification at a webhook
#   stitcher   BenchmarkStitcher (transactions)       vs  BenchmarkPassThrough (bare consume → produce),
#                                                     and BenchmarkTransactionalPassThrough (the same in
#                                                     transactions, three records out per event);
#              state bytes per active client, restore seconds per million clients
#   channel    BenchmarkClassify (per hit, default rules)  vs  BenchmarkClassifyLegacy (the hand rules before)
#   reports    BenchmarkChannelReport p50/p95 from the aggregates (10M sessions, 1M leads, 100 branches,
#              90 days generated in the embedded engine)  vs  the same report scanning the entity tables;
#              BenchmarkWonDealToReport: CRM webhook switching a deal to won → revenue in the channel report
#   edge       BenchmarkEdge, from outside with Debian's wrk on core 1 (installed here when missing), the
#              server on core 0 with GOMAXPROCS=1: the collector's pixel with ack after Kafka  vs  a bare
#              net/http GIF handler; the all-in-one's sustained end-to-end rate (hits until the last is in
#              ClickHouse, stitcher/loader lag sampled)  vs  the bare handler measured just before; the
#              all-in-one's CPU seconds per 1,000 events at the demo's rate (50 hits/s)
#   chhttp     BenchmarkInsertHTTP (clickhouse-go over HTTP into the listener)  vs  BenchmarkInsertDirect
#              (the loader's Native batch into the engine); BenchmarkSelectHTTP/{Native,JSONEachRow}
#              (1M rows through the listener)  vs  BenchmarkSelectEngine (the same query on the engine)
#
# A benchmark that does not exist (yet) shows "n/a". The table is also written
# to bench.out. Settings (environment):
#
#   BENCHTIME            -benchtime of the collector and loader benchmarks (default 2s)
#   FRESHNESS_BENCHTIME  -benchtime of BenchmarkFreshness, one fixed-rate run per iteration (default 1x)
#   ALERT_BENCHTIME      -benchtime of BenchmarkAlertLatency, one alert per iteration (default 500x)
#   REPORT_BENCHTIME     -benchtime of BenchmarkChannelReport, one report per iteration (default 30x)
#   REPORT_BENCH_SESSIONS, REPORT_BENCH_LEADS  network size (default 10000000, 1000000)
#   REPORT_BENCH_SCANS   timed scans of the entity tables, tens of seconds each at 10M (default 3)
set -uo pipefail

cd "$(dirname "$0")/.."
ROOT=github.com/throughline/throughline
BENCHTIME=${BENCHTIME:-2s}
FRESHNESS_BENCHTIME=${FRESHNESS_BENCHTIME:-1x}
ALERT_BENCHTIME=${ALERT_BENCHTIME:-500x}
OUT=bench.out

# wrk (the outside load generator of BenchmarkEdge), as .ci/run installs
# its tools: only when missing, with root or passwordless sudo.
if ! command -v wrk >/dev/null; then
  sudo=()
  [ "$(id -u)" -ne 0 ] && sudo=(sudo -n)
  echo "installing wrk"
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends wrk ||
    { "${sudo[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends wrk; } ||
    echo "bench: wrk not installed: BenchmarkEdge will be skipped" >&2
fi

raw="$(mktemp "${TMPDIR:-/tmp}/bench.XXXXXX")"
trap 'rm -f "$raw"' EXIT
failed=()

# bench PACKAGES REGEX BENCHTIME: runs the matching benchmarks, their output
# shown as it comes and kept for parsing.
bench() {
  echo "== go test -run '^\$' -bench '$2' -benchtime $3 $1"
  if ! go test -run '^$' -bench "$2" -benchtime "$3" -count 1 "$1" 2>&1 | tee -a "$raw"; then
    failed+=("$1")
  fi
}

# metric NAME UNIT: the value the benchmark NAME reported in UNIT ("ns/op",
# "events/s", …), or nothing. Lines look like:
#   BenchmarkPixel-2   123456   9876 ns/op   101234 events/s
metric() {
  awk -v name="Benchmark$1" -v unit="$2" '
    { n = $1; sub(/-[0-9]+$/, "", n) }
    n == name { for (i = 3; i < NF; i += 2) if ($(i + 1) == unit) { v = $i } }
    END { if (v != "") print v }' "$raw"
}

# rate NAME UNIT...: the first of the units the benchmark reported, else
# operations per second from ns/op; printed as "value unit".
rate() {
  local name=$1 unit v
  shift
  for unit in "$@"; do
    v=$(metric "$name" "$unit")
    if [ -n "$v" ]; then echo "$v $unit"; return; fi
  done
  v=$(metric "$name" ns/op)
  if [ -n "$v" ]; then awk -v ns="$v" 'BEGIN { if (ns > 0) printf "%.0f op/s\n", 1e9 / ns }'; fi
}

# ratio A B: A/B of two "value unit" figures, or n/a.
ratio() {
  if [ -z "$1" ] || [ -z "$2" ]; then echo n/a; return; fi
  awk -v a="${1%% *}" -v b="${2%% *}" 'BEGIN { if (b > 0) printf "%.2fx\n", a / b; else print "n/a" }'
}

human() { # "value unit" rounded, or n/a
  if [ -z "$1" ]; then echo n/a; return; fi
  awk -v v="${1%% *}" -v u="${1#* }" 'BEGIN { f = v >= 100 ? "%.0f %s\n" : "%.3g %s\n"; printf f, v, u }'
}

bench "$ROOT/services/collector/..." '^Benchmark(Pixel|PixelNoDedup|EventsBatch|EventsBatchNoDedup|Numbers|BareHTTP)$' "$BENCHTIME"
bench "$ROOT/services/loader/..." '^Benchmark(Loader|LoaderDedup|EngineInsertSelect)$' "$BENCHTIME"
bench "$ROOT/services/throughline/..." '^BenchmarkFreshness$' "$FRESHNESS_BENCHTIME"
bench "$ROOT/services/alerter/..." '^BenchmarkAlertLatency$' "$ALERT_BENCHTIME"
bench "$ROOT/services/stitcher" '^Benchmark(Stitcher|PassThrough|TransactionalPassThrough)$' "${STITCHER_BENCHTIME:-100000x}"
bench "$ROOT/services/stitcher" '^BenchmarkRestore' 3x
bench "$ROOT/services/stitcher/internal/stitch" '^BenchmarkStatePerClient' 1x
bench "$ROOT/services/stitcher/internal/stitch" '^BenchmarkApply(Hashed)?$' "${APPLY_BENCHTIME:-100000x}"
bench "$ROOT/pkg/phone" '^BenchmarkNormalize$' "${PHONE_BENCHTIME:-20000x}"
bench "$ROOT/services/stitcher/internal/channel" '^BenchmarkClassify(Legacy)?$' "$BENCHTIME"
REPORT_BENCH_SCANS=${REPORT_BENCH_SCANS:-3} bench "$ROOT/services/console/analytics" '^BenchmarkChannelReport$' "${REPORT_BENCHTIME:-30x}"
bench "$ROOT/services/throughline/e2e" '^BenchmarkWonDealToReport$' 1x
bench "$ROOT/services/throughline/e2e" '^BenchmarkEdge$' "${EDGE_BENCHTIME:-1x}"
bench "$ROOT/pkg/chhttp" '^Benchmark(InsertHTTP|InsertDirect|SelectHTTP|SelectEngine)$' "${CHHTTP_BENCHTIME:-5x}"

bare=$(rate BareHTTP req/s events/s)
pixel=$(rate Pixel events/s)
batch=$(rate EventsBatch events/s)
numbers=$(rate Numbers events/s)
engine=$(rate EngineInsertSelect rows/s)
loader=$(rate Loader rows/s)
loader_dedup=$(rate LoaderDedup rows/s)
pixel_nodedup=$(rate PixelNoDedup events/s)
batch_nodedup=$(rate EventsBatchNoDedup events/s)
p50=$(metric Freshness p50-ms)
p99=$(metric Freshness p99-ms)
fresh_rate=$(metric Freshness events/s)
alert_p50=$(metric AlertLatency p50-ms)
alert_p99=$(metric AlertLatency p99-ms)
stitcher=$(rate Stitcher events/s)
passthrough=$(rate PassThrough events/s)
txn_passthrough=$(rate TransactionalPassThrough events/s)
restore=$(metric Restore s/1M-clients)
classify=$(metric Classify cpu-ns/op)
classify_legacy=$(metric ClassifyLegacy cpu-ns/op)
state_heap=$(metric StatePerClient heap-B/client)
state_log=$(metric StatePerClient changelog-B/client)
report_p50=$(metric ChannelReport p50-ms)
report_p95=$(metric ChannelReport p95-ms)
scan_p95=$(metric ChannelReport scan-p95-ms)
report_sessions=$(metric ChannelReport sessions)
apply=$(rate Apply events/s)
apply_hashed=$(rate ApplyHashed events/s)
phone_lib=$(rate Normalize/libphonenumber)
phone_old=$(rate Normalize/legacy)
phone_recent=$(rate Normalize/recent)
won_p50=$(metric WonDealToReport p50-ms)
won_max=$(metric WonDealToReport max-ms)
ins_http=$(rate InsertHTTP rows/s)
ins_direct=$(rate InsertDirect rows/s)
sel_http_native=$(rate SelectHTTP/Native rows/s)
sel_engine_native=$(rate SelectEngine/Native rows/s)
sel_http_json=$(rate SelectHTTP/JSONEachRow rows/s)
sel_engine_json=$(rate SelectEngine/JSONEachRow rows/s)
edge_bare=$(metric Edge bare-req/s)
edge_pixel=$(metric Edge pixel-req/s)
edge_bare2=$(metric Edge bare2-req/s)
edge_aio=$(metric Edge aio-e2e-events/s)
edge_aio_accept=$(metric Edge aio-accept-req/s)
edge_slag=$(metric Edge max-stitcher-lag)
edge_llag=$(metric Edge max-loader-lag)
edge_drain=$(metric Edge drain-s)
edge_cpu=$(metric Edge cpu-s/1k-events)
edge_idle=$(metric Edge idle-cpu-%)
edge_busy=$(metric Edge demo-rate-cpu-%)

ms() { if [ -n "$1" ]; then echo "$1 ms"; else echo n/a; fi; }
row() { printf '%-32s %-20s %-36s %s\n' "$@"; }
{
  echo "Throughline benchmarks — $(date -u +%Y-%m-%dT%H:%MZ), $(go env GOOS)/$(go env GOARCH), $(nproc) CPUs, $(go env GOVERSION)"
  echo
  row "benchmark" "figure" "baseline (same run)" "ratio"
  row "collector Pixel" "$(human "$pixel")" "BareHTTP $(human "$bare")" "$(ratio "$pixel" "$bare")"
  row "collector EventsBatch" "$(human "$batch")" "BareHTTP $(human "$bare")" "$(ratio "$batch" "$bare")"
  row "collector Numbers (leases)" "$(human "$numbers")" "Pixel $(human "$pixel")" "$(ratio "$numbers" "$pixel")"
  row "loader Loader" "$(human "$loader")" "EngineInsertSelect $(human "$engine")" "$(ratio "$loader" "$engine")"
  row "dedup: collector Pixel" "$(human "$pixel")" "PixelNoDedup $(human "$pixel_nodedup")" "$(ratio "$pixel" "$pixel_nodedup")"
  row "dedup: collector EventsBatch" "$(human "$batch")" "EventsBatchNoDedup $(human "$batch_nodedup")" "$(ratio "$batch" "$batch_nodedup")"
  row "dedup: loader" "$(human "$loader_dedup")" "Loader $(human "$loader")" "$(ratio "$loader_dedup" "$loader")"
  row "freshness p50" "$(ms "$p50")" "at ${fresh_rate:-n/a} events/s" "-"
  row "freshness p99" "$(ms "$p99")" "at ${fresh_rate:-n/a} events/s" "-"
  row "alert latency p50" "$(ms "$alert_p50")" "record → webhook receiver" "-"
  row "alert latency p99" "$(ms "$alert_p99")" "record → webhook receiver" "-"
  row "stitcher (transactions)" "$(human "$stitcher")" "PassThrough $(human "$passthrough")" "$(ratio "$stitcher" "$passthrough")"
  row "stitcher (transactions)" "$(human "$stitcher")" "TransactionalPassThrough $(human "$txn_passthrough")" "$(ratio "$stitcher" "$txn_passthrough")"
  row "channel Classify (CPU per hit)" "${classify:-n/a} ns" "hand rules of 1a4e6d6 ${classify_legacy:-n/a} ns" "$(ratio "${classify:+$classify ns}" "${classify_legacy:+$classify_legacy ns}")"
  row "stitcher state per client" "${state_heap:-n/a} B heap" "changelog ${state_log:-n/a} B" "-"
  row "stitcher restore" "${restore:-n/a} s per 1M clients" "-" "-"
  row "stitcher apply, hashed phones" "$(human "$apply_hashed")" "E.164 phones $(human "$apply")" "$(ratio "$apply_hashed" "$apply")"
  row "phone normalise (libphonenumber)" "$(human "$phone_lib")" "former normaliser $(human "$phone_old")" "$(ratio "$phone_lib" "$phone_old")"
  row "phone normalise (read lately)" "$(human "$phone_recent")" "former normaliser $(human "$phone_old")" "$(ratio "$phone_recent" "$phone_old")"
  row "channel report p50" "$(ms "$report_p50")" "${report_sessions:-n/a} sessions, 90 days" "-"
  row "channel report p95" "$(ms "$report_p95")" "scan of entities $(ms "$scan_p95")" "$(ratio "${scan_p95:+$scan_p95 ms}" "${report_p95:+$report_p95 ms}") faster"
  row "won deal → report p50" "$(ms "$won_p50")" "max $(ms "$won_max")" "-"
  row "edge pixel, ack after Kafka (wrk)" "$(human "${edge_pixel:+$edge_pixel req/s}")" "bare GIF handler $(human "${edge_bare:+$edge_bare req/s}")" "$(ratio "${edge_pixel:+$edge_pixel req/s}" "${edge_bare:+$edge_bare req/s}")"
  row "edge all-in-one end to end (wrk)" "$(human "${edge_aio:+$edge_aio events/s}")" "bare GIF handler $(human "${edge_bare2:+$edge_bare2 req/s}")" "$(ratio "${edge_aio:+$edge_aio events/s}" "${edge_bare2:+$edge_bare2 req/s}")"
  row "  accepted; max lag; drain" "$(human "${edge_aio_accept:+$edge_aio_accept req/s}")" "stitcher ${edge_slag:-n/a}, loader ${edge_llag:-n/a} records" "${edge_drain:-n/a} s"
  row "all-in-one CPU at demo rate" "${edge_cpu:-n/a} s per 1k events" "idle ${edge_idle:-n/a}% / 50 hits/s ${edge_busy:-n/a}% of a core" "-"
  row "clickhouse http insert" "$(human "$ins_http")" "loader's path $(human "$ins_direct")" "$(ratio "$ins_http" "$ins_direct")"
  row "clickhouse http select Native" "$(human "$sel_http_native")" "engine $(human "$sel_engine_native")" "$(ratio "$sel_http_native" "$sel_engine_native")"
  row "clickhouse http select JSON" "$(human "$sel_http_json")" "engine $(human "$sel_engine_json")" "$(ratio "$sel_http_json" "$sel_engine_json")"
  if [ ${#failed[@]} -gt 0 ]; then
    echo
    echo "FAILED: ${failed[*]} (see the output above)"
  fi
} | tee "$OUT.tmp"
echo
mv "$OUT.tmp" "$OUT"
echo "written to $OUT"
[ ${#failed[@]} -eq 0 ]
