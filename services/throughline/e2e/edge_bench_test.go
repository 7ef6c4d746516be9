package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/throughline/throughline/pkg/kafka"
	"github.com/throughline/throughline/pkg/kafka/embedded"
	"github.com/throughline/throughline/pkg/telemetry"
	"github.com/throughline/throughline/pkg/tenants"
	"github.com/throughline/throughline/services/collector"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Edge figures measured from outside, as a user would (issue 15 item 4):
// Debian's wrk on one core loads a server pinned to the other core —
//
//   - bare:  a net/http handler that only writes the pixel's GIF;
//   - pixel: the collector's GET /px.gif with its embedded broker, each hit
//     answered after Kafka acknowledged it (ack after Kafka);
//   - the all-in-one (`throughline run`): hits until wrk stops, then until
//     the last one is a row in ClickHouse; the sustained end-to-end rate is
//     the hits over that whole time, with the stitcher's and the loader's
//     consumer lag sampled throughout;
//   - the all-in-one unpinned at the demo's rate (50 hits/s): CPU seconds
//     per 1,000 events, against the same process idle for as long.
//
// The servers under test are this test binary re-executed (serveEdgeChild)
// or the throughline binary, under `taskset -c 0` with GOMAXPROCS=1; wrk
// runs under `taskset -c 1`. Run: make bench, or
//   go test -run '^$' -bench '^BenchmarkEdge$' -benchtime 1x ./services/throughline/e2e
// (EDGE_SECONDS sets each wrk run's length, default 10; EDGE_PIXEL_PROFILE
// a file for the pixel server's CPU profile).

const (
	edgeServeEnv   = "THROUGHLINE_EDGE_SERVE"   // bare or pixel: serve, print the address, stop when stdin closes
	edgeProfileEnv = "THROUGHLINE_EDGE_PROFILE" // CPU profile of the served process, written at stop
	edgeSiteKey    = "edge-site-key-000001"
)

// edgeGIF is the 1×1 transparent GIF a pixel answers with (43 bytes).
var edgeGIF = []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")

// serveEdgeChild serves what THROUGHLINE_EDGE_SERVE asks for, when it is
// set (false: this is no child).
func serveEdgeChild() bool {
	mode := os.Getenv(edgeServeEnv)
	if mode == "" {
		return false
	}
	if err := runEdgeChild(mode); err != nil {
		fmt.Fprintln(os.Stderr, "edge child:", err)
		os.Exit(1)
	}
	return true
}

func runEdgeChild(mode string) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	if p := os.Getenv(edgeProfileEnv); p != "" {
		f, err := os.Create(p)
		if err != nil {
			return err
		}
		pprof.StartCPUProfile(f)
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	served := make(chan error, 1)
	switch mode {
	case "bare":
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "image/gif")
			w.Header().Set("Cache-Control", "no-store")
			w.Write(edgeGIF)
		})}
		go func() { served <- srv.Serve(ln) }()
		defer srv.Close()
	case "pixel":
		dir, err := os.MkdirTemp("", "edge-kafka")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		port, err := freeTCPPort()
		if err != nil {
			return err
		}
		b, err := embedded.Start(embedded.Config{Port: port, DataDir: dir})
		if err != nil {
			return err
		}
		defer b.Close()
		kcfg := b.Client()
		kcfg.ClientID = "edge"
		adm, err := kgo.NewClient(kafka.BaseOpts(kcfg, zerolog.Nop())...)
		if err != nil {
			return err
		}
		err = kafka.EnsureTopics(ctx, kadm.NewClient(adm), kcfg.Replication, kafka.Topics)
		adm.Close()
		if err != nil {
			return err
		}
		cfg := collector.DefaultConfig()
		prod, err := kgo.NewClient(append(kafka.BaseOpts(kcfg, zerolog.Nop()), kafka.ProducerOpts(cfg.MaxInFlightRecords)...)...)
		if err != nil {
			return err
		}
		defer prod.Close()
		tc, err := tenants.Parse([]byte("tenants:\n  - id: edge\n    accounts:\n      - id: branch\n        site_keys: [" + edgeSiteKey + "]\n"))
		if err != nil {
			return err
		}
		tel, err := telemetry.New(zerolog.Nop(), "edge")
		if err != nil {
			return err
		}
		c, err := collector.New(cfg, collector.Deps{Tel: tel, Producer: prod, Keys: tenants.NewKeys(tc), Tenants: tc})
		if err != nil {
			return err
		}
		go func() { served <- c.Serve(ctx, ln) }()
	default:
		return fmt.Errorf("%s=%q: want bare or pixel", edgeServeEnv, mode)
	}
	fmt.Println(ln.Addr().String())
	stdin := make(chan struct{})
	go func() { io.Copy(io.Discard, os.Stdin); close(stdin) }()
	select {
	case <-stdin:
		return nil
	case err := <-served:
		return err
	}
}

func freeTCPPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// edgeChild is a served child process.
type edgeChild struct {
	addr  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

// startEdgeChild re-executes this test binary on core 0 with one P.
func startEdgeChild(b *testing.B, mode, profile string) *edgeChild {
	b.Helper()
	cmd := exec.Command("taskset", "-c", "0", os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), edgeServeEnv+"="+mode, "GOMAXPROCS=1", edgeProfileEnv+"="+profile)
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	c := &edgeChild{cmd: cmd, stdin: stdin}
	b.Cleanup(c.stop)
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatalf("%s server did not start: %v", mode, err)
	}
	c.addr = strings.TrimSpace(line)
	go io.Copy(io.Discard, out)
	return c
}

func (c *edgeChild) stop() {
	if c.stdin != nil {
		c.stdin.Close()
		c.stdin = nil
		c.cmd.Wait()
	}
}

// wrkScript varies the client id over 10,000 visitors, the rest of the
// hit as a browser on a Direct ad click sends it.
const wrkScript = `
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", "/px.gif?k=%s&cid=edge." .. (counter %% 10000) ..
    "&u=https%%3A%%2F%%2Fshop.example%%2Fspring%%3Futm_source%%3Dyandex%%26utm_medium%%3Dcpc%%26yclid%%3D" .. counter ..
    "&r=https%%3A%%2F%%2Fya.ru%%2F", {["User-Agent"] = "Mozilla/5.0 (wrk)"})
end
`

var (
	wrkRate     = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkTotal    = regexp.MustCompile(`(\d+) requests in`)
	wrkNon2xx   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	wrkSockErrs = regexp.MustCompile(`Socket errors: (.*)`)
)

// runWrk loads addr from core 1 (64 connections, one thread) for d and
// returns requests per second and requests sent; any error answer fails.
func runWrk(b *testing.B, addr, key string, d time.Duration) (float64, int64) {
	b.Helper()
	script := filepath.Join(b.TempDir(), "hits.lua")
	if err := os.WriteFile(script, []byte(fmt.Sprintf(wrkScript, key)), 0o600); err != nil {
		b.Fatal(err)
	}
	out, err := exec.Command("taskset", "-c", "1", "wrk", "-t1", "-c64", "-d"+strconv.Itoa(int(d.Seconds()))+"s",
		"-s", script, "http://"+addr).CombinedOutput()
	if err != nil {
		b.Fatalf("wrk: %v\n%s", err, out)
	}
	if m := wrkNon2xx.FindSubmatch(out); m != nil {
		b.Fatalf("wrk got %s error answers:\n%s", m[1], out)
	}
	if m := wrkSockErrs.FindSubmatch(out); m != nil && !strings.Contains(string(m[1]), "timeout 0") {
		b.Logf("wrk socket errors: %s", m[1])
	}
	r, t := wrkRate.FindSubmatch(out), wrkTotal.FindSubmatch(out)
	if r == nil || t == nil {
		b.Fatalf("wrk output not understood:\n%s", out)
	}
	rate, _ := strconv.ParseFloat(string(r[1]), 64)
	total, _ := strconv.ParseInt(string(t[1]), 10, 64)
	return rate, total
}

// metricValue sums the lines of /metrics at addr that start with prefix.
func metricValue(b *testing.B, addr, prefix string) float64 {
	b.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, prefix) {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			sum += v
		}
	}
	return sum
}

const acceptedPixels = `throughline_collector_events_accepted_total{source="pixel"`

func edgeTools(b *testing.B) {
	b.Helper()
	for _, tool := range []string{"wrk", "taskset"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Skipf("%s not installed (scripts/bench.sh installs it)", tool)
		}
	}
	if runtime.NumCPU() < 2 {
		b.Skip("needs two cores: one for wrk, one for the server")
	}
}

// bareRate measures the bare handler on core 0 (a warm-up first).
func bareRate(b *testing.B, d time.Duration) float64 {
	b.Helper()
	bare := startEdgeChild(b, "bare", "")
	defer bare.stop()
	runWrk(b, bare.addr, edgeSiteKey, 2*time.Second)
	r, _ := runWrk(b, bare.addr, edgeSiteKey, d)
	return r
}

// BenchmarkEdge measures, in this order and each against the bare handler
// measured just before it (the machine may be shared: only ratios of
// neighbouring runs mean something), the collector's pixel with ack after
// Kafka and the all-in-one's sustained end-to-end rate, then the
// all-in-one's CPU per 1,000 events at the demo's rate.
func BenchmarkEdge(b *testing.B) {
	edgeTools(b)
	d := edgeDuration()

	bare1 := bareRate(b, d)
	px := startEdgeChild(b, "pixel", os.Getenv("EDGE_PIXEL_PROFILE"))
	runWrk(b, px.addr, edgeSiteKey, 2*time.Second)
	before := metricValue(b, px.addr, acceptedPixels)
	pixelRate, sent := runWrk(b, px.addr, edgeSiteKey, d)
	if got := metricValue(b, px.addr, acceptedPixels) - before; got < float64(sent) {
		b.Fatalf("%v hits accepted (in Kafka) of %d sent", got, sent)
	}
	px.stop()
	b.ReportMetric(bare1, "bare-req/s")
	b.ReportMetric(pixelRate, "pixel-req/s")
	b.ReportMetric(pixelRate/bare1, "pixel/bare")

	bare2 := bareRate(b, d)
	sustained, accept, lags, drain := allInOneSustained(b, d)
	b.ReportMetric(bare2, "bare2-req/s")
	b.ReportMetric(accept, "aio-accept-req/s")
	b.ReportMetric(sustained, "aio-e2e-events/s")
	b.ReportMetric(sustained/bare2, "aio-e2e/bare")
	b.ReportMetric(float64(lags.stitcher), "max-stitcher-lag")
	b.ReportMetric(float64(lags.loader), "max-loader-lag")
	b.ReportMetric(drain.Seconds(), "drain-s")

	cpu, idle, busy := allInOneAtDemoRate(b)
	b.ReportMetric(cpu, "cpu-s/1k-events")
	b.ReportMetric(idle, "idle-cpu-%")
	b.ReportMetric(busy, "demo-rate-cpu-%")
}

func edgeDuration() time.Duration {
	if s := os.Getenv("EDGE_SECONDS"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			return time.Duration(n) * time.Second
		}
	}
	return 10 * time.Second
}

// allInOneSustained loads the all-in-one on core 0 from core 1 for d, after
// a warm-up whose hits it lets land first; the sustained rate is the hits
// over the time until the last is a row in ClickHouse, with the largest
// stitcher and loader lag seen meanwhile and the drain after wrk stopped.
func allInOneSustained(b *testing.B, d time.Duration) (sustained, accept float64, lags maxLags, drain time.Duration) {
	b.Helper()
	n := newNode(b)
	n.prefix = []string{"taskset", "-c", "0"}
	n.start()
	defer n.stop()
	tenant, _, key := n.key()
	count := func() int64 {
		rows, err := n.tryQuery("SELECT count() FROM throughline.events WHERE tenant = '" + tenant + "' AND type = 'pageview'")
		if err != nil || len(rows) != 1 {
			return -1
		}
		v, _ := strconv.ParseInt(fmt.Sprint(rows[0][0]), 10, 64)
		return v
	}
	waitRows := func(want int64) time.Time {
		for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
			if c := count(); c >= want {
				return time.Now()
			}
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d hits in ClickHouse after 5 minutes", count(), want)
			}
		}
	}
	_, warm := runWrk(b, n.collector, key, 3*time.Second)
	waitRows(warm)
	adm := edgeAdmin(b, n)
	lagStop, lagOut := sampleLags(adm)
	start := time.Now()
	accept, sent := runWrk(b, n.collector, key, d)
	wrkDone := time.Now()
	landed := waitRows(warm + sent)
	lagStop()
	return float64(sent) / landed.Sub(start).Seconds(), accept, <-lagOut, landed.Sub(wrkDone)
}

// allInOneAtDemoRate runs the all-in-one unpinned, idle for 30 s, then
// under 50 hits/s (the demo's default rate) for 30 s: CPU seconds per
// 1,000 events (the whole process's), and the process's CPU idle and busy
// as percent of one core.
func allInOneAtDemoRate(b *testing.B) (perK, idlePct, busyPct float64) {
	b.Helper()
	n := newNode(b)
	n.start()
	defer n.stop()
	_, _, key := n.key()
	time.Sleep(10 * time.Second) // start-up work (migrations, first refresh) is not idle
	window := 30 * time.Second
	idle := cpuOver(b, n, window, nil)
	var hits int
	busy := cpuOver(b, n, window, func(ctx context.Context) {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				hits++
				n.pixel(key, fmt.Sprintf("demo.%d", hits%500), "https://shop.example/?utm_source=yandex&utm_medium=cpc&yclid="+strconv.Itoa(hits))
			}
		}
	})
	return busy / float64(hits) * 1000, idle / window.Seconds() * 100, busy / window.Seconds() * 100
}

// cpuOver is the process's CPU seconds (user + system) over window while
// load runs (nil: idle).
func cpuOver(b *testing.B, n *node, window time.Duration, load func(context.Context)) float64 {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), window)
	defer cancel()
	before := procCPU(b, n.cmd.Process.Pid)
	if load != nil {
		load(ctx)
	} else {
		<-ctx.Done()
	}
	return procCPU(b, n.cmd.Process.Pid) - before
}

// procCPU reads utime + stime of pid (every thread) in seconds.
func procCPU(b *testing.B, pid int) float64 {
	b.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseFloat(f[11], 64) // fields 14 and 15 of stat(5)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ, 100 on Linux
}

type maxLags struct{ stitcher, loader int64 }

func edgeAdmin(b *testing.B, n *node) *kadm.Client {
	cl, err := kgo.NewClient(kgo.SeedBrokers(fmt.Sprintf("127.0.0.1:%d", n.kafkaPort)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// sampleLags polls every consumer group's lag until stopped, keeping the
// largest total lag of the stitcher's and the loader's groups.
func sampleLags(adm *kadm.Client) (stop func(), out <-chan maxLags) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan maxLags, 1)
	go func() {
		var m maxLags
		defer func() { ch <- m }()
		for ctx.Err() == nil {
			gs, err := adm.ListGroups(ctx)
			if err == nil {
				lags, err := adm.Lag(ctx, gs.Groups()...)
				if err == nil {
					for g, l := range lags {
						total := l.Lag.Total()
						switch {
						case strings.Contains(g, "stitcher") && total > m.stitcher:
							m.stitcher = total
						case strings.Contains(g, "loader") && total > m.loader:
							m.loader = total
						}
					}
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(250 * time.Millisecond):
			}
		}
	}()
	return cancel, ch
}
