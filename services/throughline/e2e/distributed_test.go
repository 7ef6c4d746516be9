package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"gopkg.in/yaml.v3"
)

// The distributed mode on one machine: `throughline kafka` and `throughline
// clickhouse` stand in for the Kafka and ClickHouse containers of
// docker-compose.yml, and the collector, stitcher, loader, alerter and
// console run as their own binaries (services/*/cmd) with the environment
// the Compose file gives their containers — read from the file, so the test
// runs what Compose runs. Only what a container gets from Docker is filled
// in: addresses (kafka:19092, clickhouse:8123 and each ":PORT" become this
// host's loopback ports), the bind-mounted files, the ${…} variables an
// operator sets, and the hostname-derived ids of a scaled replica.

// serviceBinaries are built once, on first use.
var serviceBinaries struct {
	once sync.Once
	dir  string
	err  error
}

// distServices are the Compose services the test runs as processes.
var distServices = []string{"collector", "stitcher", "loader", "alerter", "console", "refresher"}

func buildServices(t *testing.T) string {
	t.Helper()
	serviceBinaries.once.Do(func() {
		serviceBinaries.dir = filepath.Dir(binary) // TestMain's temporary directory, removed after the run
		// Without symbol tables and DWARF: linking six binaries is most of
		// the build, and the test never debugs them.
		args := []string{"build", "-ldflags=-s -w", "-o", serviceBinaries.dir + string(filepath.Separator)}
		for _, s := range distServices {
			args = append(args, "../../"+s+"/cmd/"+s)
		}
		out, err := exec.Command("go", args...).CombinedOutput()
		if err != nil {
			serviceBinaries.err = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	})
	if serviceBinaries.err != nil {
		t.Fatal(serviceBinaries.err)
	}
	return serviceBinaries.dir
}

// composeService is what the test reads of a Compose service.
type composeService struct {
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	Healthcheck struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
}

func readCompose(t *testing.T) map[string]composeService {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Services map[string]composeService `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return f.Services
}

// repoRoot is the repository, seen from this package.
const repoRoot = "../../.."

var (
	composeVar  = regexp.MustCompile(`\$\{([A-Z0-9_]+)(?::-([^}]*))?\}`)
	listenPort  = regexp.MustCompile(`^:(\d+)$`)
	healthPort  = regexp.MustCompile(`/dev/tcp/127\.0\.0\.1/(\d+)`)
	composeHost = regexp.MustCompile(`^(kafka|clickhouse):\d+$`)
)

// cluster is the distributed deployment on this host.
type cluster struct {
	t                  *testing.T
	dir, bin           string
	compose            map[string]composeService
	kafkaAddr, chAddr  string
	tenantsFile        string
	operator           map[string]string // the ${…} an operator sets for `docker compose up`
	chUser, chPassword string
	procs              map[string]*proc // by replica name: collector, stitcher-1, …
}

// proc is one process of the deployment.
type proc struct {
	name   string
	argv   []string
	env    []string
	ready  string // URL that answers 200 once it serves ("" : none)
	cmd    *exec.Cmd
	logs   *syncBuffer
	exited chan struct{}
}

func (p *proc) start(t *testing.T) {
	t.Helper()
	p.cmd = exec.Command(p.argv[0], p.argv[1:]...)
	p.cmd.Env = p.env
	p.logs = &syncBuffer{}
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("%s: %v", p.name, err)
	}
	p.exited = make(chan struct{})
	go func() { p.cmd.Wait(); close(p.exited) }()
}

// kill ends the process with SIGKILL: no flush, no commit, no goodbye.
func (p *proc) kill() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	p.cmd.Process.Kill()
	<-p.exited
}

// waitReady polls check until it holds; the process exiting fails the test.
func (p *proc) waitReady(t *testing.T, check func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !check() {
		select {
		case <-p.exited:
			t.Fatalf("%s exited at start:\n%s", p.name, tail(p.logs.String(), 4000))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after 60s:\n%s", p.name, tail(p.logs.String(), 4000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// baseEnv is this process's environment without THROUGHLINE_* settings:
// a service gets only what Compose gives it.
func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "THROUGHLINE_") {
			env = append(env, kv)
		}
	}
	return env
}

// startCluster starts the broker and the engine, then every service with
// the given replicas (Compose's --scale), and waits until all are ready.
func startCluster(t *testing.T, tenantsYAML string, replicas map[string]int) *cluster {
	t.Helper()
	c := &cluster{t: t, dir: t.TempDir(), bin: buildServices(t), compose: readCompose(t), procs: map[string]*proc{}}
	// The credentials an operator exports before `docker compose up`; the
	// admin of `throughline clickhouse` is the user Compose gives the
	// ClickHouse server (CLICKHOUSE_USER).
	c.chPassword = "e2e-clickhouse-password-0123"
	c.operator = map[string]string{"THROUGHLINE_CLICKHOUSE_PASSWORD": c.chPassword, "THROUGHLINE_SQL_TOKEN": adminToken}
	chEnv := c.compose["clickhouse"].Environment
	c.chUser = chEnv["CLICKHOUSE_USER"]
	if c.chUser == "" || chEnv["CLICKHOUSE_DB"] != "throughline" {
		t.Fatalf("docker-compose.yml clickhouse: CLICKHOUSE_USER %q, CLICKHOUSE_DB %q", c.chUser, chEnv["CLICKHOUSE_DB"])
	}
	c.tenantsFile = filepath.Join(c.dir, "tenants.yaml")
	yml := fmt.Sprintf("clickhouse:\n  admin: {user: %s, password: %s}\n%s", c.chUser, c.chPassword, tenantsYAML)
	if err := os.WriteFile(c.tenantsFile, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}

	c.kafkaAddr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	c.chAddr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	_, kport, _ := strings.Cut(c.kafkaAddr, ":")
	kafka := &proc{name: "kafka", env: baseEnv(),
		argv: []string{binary, "kafka", "--data-dir", filepath.Join(c.dir, "kafka"), "--kafka-port", kport, "--log-pretty=false"}}
	ch := &proc{name: "clickhouse", env: baseEnv(), ready: "http://" + c.chAddr + "/ping",
		argv: []string{binary, "clickhouse", "--data-dir", filepath.Join(c.dir, "clickhouse"), "--tenants-file", c.tenantsFile,
			"--clickhouse-http-addr", c.chAddr, "--log-pretty=false"}}
	for _, p := range []*proc{kafka, ch} {
		c.procs[p.name] = p
		p.start(t)
		t.Cleanup(p.kill)
	}
	kafka.waitReady(t, c.kafkaAnswers)
	ch.waitReady(t, func() bool { return ready(ch.ready) })

	for _, svc := range distServices {
		for i := 1; i <= max(replicas[svc], 1); i++ {
			name := svc
			if replicas[svc] > 1 {
				name = fmt.Sprintf("%s-%d", svc, i)
			}
			p := c.serviceProc(svc, name)
			c.procs[name] = p
			p.start(t)
			t.Cleanup(p.kill)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.procs)) {
		if p := c.procs[name]; p.ready != "" {
			p.waitReady(t, func() bool { return ready(p.ready) })
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, name := range slices.Sorted(maps.Keys(c.procs)) {
				t.Logf("--- %s:\n%s", name, tail(c.procs[name].logs.String(), 2500))
			}
		}
	})
	return c
}

// kafkaAnswers reports whether the broker answers a metadata request.
func (c *cluster) kafkaAnswers() bool {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.kafkaAddr))
	if err != nil {
		return false
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = kadm.NewClient(cl).BrokerMetadata(ctx)
	return err == nil
}

// serviceProc is replica name of Compose service svc, with the container's
// environment turned into this host's.
func (c *cluster) serviceProc(svc, name string) *proc {
	t := c.t
	s, ok := c.compose[svc]
	if !ok {
		t.Fatalf("docker-compose.yml has no service %s", svc)
	}
	// Bind mounts: the container path of each file is its host path here;
	// the tenants file is the test's (the example's keys are placeholders).
	mounts := map[string]string{}
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) < 2 {
			continue
		}
		src := filepath.Join(repoRoot, parts[0])
		if strings.HasSuffix(parts[0], "tenants.example.yaml") {
			src = c.tenantsFile
		}
		mounts[parts[1]] = src
	}
	ports := map[string]string{} // ":8080" → 127.0.0.1:<free>
	env := baseEnv()
	for _, k := range slices.Sorted(maps.Keys(s.Environment)) {
		v := composeVar.ReplaceAllStringFunc(s.Environment[k], func(ref string) string {
			m := composeVar.FindStringSubmatch(ref)
			if val, ok := c.operator[m[1]]; ok {
				return val
			}
			return m[2]
		})
		switch {
		case v == "kafka:19092":
			v = c.kafkaAddr
		case v == "clickhouse:8123":
			v = c.chAddr
		case composeHost.MatchString(v):
			t.Fatalf("docker-compose.yml %s: %s=%s: the distributed test runs ClickHouse's HTTP interface (clickhouse:8123) and Kafka at kafka:19092 only", svc, k, v)
		case listenPort.MatchString(v):
			addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
			ports[v] = addr
			v = addr
		case mounts[v] != "":
			v = mounts[v]
		case strings.HasPrefix(v, "/"):
			t.Fatalf("docker-compose.yml %s: %s=%s is a container path without a bind mount", svc, k, v)
		}
		env = append(env, k+"="+v)
	}
	// What the container's hostname gives each replica by default: its own
	// transactional id and group instance ids (services/stitcher/config.go,
	// services/loader/loader.go).
	switch svc {
	case "stitcher":
		env = append(env, "THROUGHLINE_STITCHER_TRANSACTIONAL_ID=throughline-stitcher-"+name,
			"THROUGHLINE_STITCHER_INSTANCE_ID=throughline-stitcher-"+name)
	case "loader":
		env = append(env, "THROUGHLINE_LOADER_INSTANCE_ID=throughline-loader-"+name)
	}
	p := &proc{name: name, env: env, argv: []string{filepath.Join(c.bin, svc)}}
	// Ready as Compose's healthcheck asks: GET /readyz on the port it names.
	m := healthPort.FindStringSubmatch(strings.Join(s.Healthcheck.Test, " "))
	if m == nil || ports[":"+m[1]] == "" {
		t.Fatalf("docker-compose.yml %s: the healthcheck's port is none of the service's listen addresses: %v", svc, s.Healthcheck.Test)
	}
	p.ready = "http://" + ports[":"+m[1]] + "/readyz"
	return p
}

// addr is the loopback address replica name serves on (its readyz host).
func (c *cluster) addr(name string) string {
	u, err := url.Parse(c.procs[name].ready)
	if err != nil {
		c.t.Fatal(err)
	}
	return u.Host
}

// restart starts a killed replica again with the same environment.
func (c *cluster) restart(name string) {
	p := c.procs[name]
	p.kill()
	p.start(c.t)
	p.waitReady(c.t, func() bool { return ready(p.ready) })
}

// sql runs a query through ClickHouse's HTTP interface as the admin user
// and returns its rows (JSONCompact).
func (c *cluster) sql(q string) ([][]any, error) {
	req, _ := http.NewRequest("POST", "http://"+c.chAddr+"/?database=throughline&default_format=JSONCompact", strings.NewReader(q))
	req.SetBasicAuth(c.chUser, c.chPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("%s: %d %s", short(q), resp.StatusCode, b)
	}
	var out struct {
		Data [][]any `json:"data"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("%s: %w: %s", short(q), err, b)
	}
	return out.Data, nil
}

// value is the single value of q, as text.
func (c *cluster) value(q string) string {
	c.t.Helper()
	rows, err := c.sql(q)
	if err != nil {
		c.t.Fatal(err)
	}
	if len(rows) != 1 || len(rows[0]) != 1 {
		c.t.Fatalf("%s: %v, want one value", short(q), rows)
	}
	return fmt.Sprint(rows[0][0])
}

// waitValue polls q until its value is want.
func (c *cluster) waitValue(q, want string, within time.Duration) {
	c.t.Helper()
	var last string
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		rows, err := c.sql(q)
		switch {
		case err != nil:
			last = err.Error()
		case len(rows) == 1 && len(rows[0]) == 1:
			if last = fmt.Sprint(rows[0][0]); last == want {
				return
			}
		}
	}
	c.t.Fatalf("%s: %s, want %s within %v", short(q), last, want, within)
}
