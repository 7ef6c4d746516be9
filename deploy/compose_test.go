package deploy

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

var composeFile = filepath.Join(root, "docker-compose.yml")

// compose is the part of the Compose file the tests look at.
type compose struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image string `yaml:"image"`
	Build *struct {
		Context    string            `yaml:"context"`
		Dockerfile string            `yaml:"dockerfile"`
		Args       map[string]string `yaml:"args"`
	} `yaml:"build"`
	Environment envMap `yaml:"environment"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
	DependsOn map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Volumes []string `yaml:"volumes"`
}

// envMap is a service's environment, given either as a mapping or as a list
// of NAME=value.
type envMap map[string]string

func (e *envMap) UnmarshalYAML(n *yaml.Node) error {
	*e = envMap{}
	if n.Kind == yaml.SequenceNode {
		var list []string
		if err := n.Decode(&list); err != nil {
			return err
		}
		for _, kv := range list {
			k, v, _ := strings.Cut(kv, "=")
			(*e)[k] = v
		}
		return nil
	}
	var m map[string]string
	if err := n.Decode(&m); err != nil {
		return err
	}
	for k, v := range m {
		(*e)[k] = v
	}
	return nil
}

func loadCompose(t *testing.T) compose {
	t.Helper()
	b, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	var c compose
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("parsing %s: %v", composeFile, err)
	}
	return c
}

// TestComposeConfig has Compose itself validate the file, offline: `config`
// resolves and checks it without a Docker engine.
func TestComposeConfig(t *testing.T) {
	var argv []string
	if p, err := exec.LookPath("docker-compose"); err == nil {
		argv = []string{p}
	} else if p, err := exec.LookPath("docker"); err == nil && exec.Command(p, "compose", "version").Run() == nil {
		argv = []string{p, "compose"}
	} else {
		const msg = "neither docker-compose nor the docker compose plugin is installed: the Compose file is only checked by this package's own parser (.ci/run installs docker-compose)"
		if os.Getenv("THROUGHLINE_REQUIRE_TOOLS") != "" {
			t.Fatal(msg) // CI: a missing tool is a failure
		}
		t.Skip(msg)
	}
	cmd := exec.Command(argv[0], append(argv[1:], "-f", composeFile, "config", "-q")...)
	cmd.Env = withoutThroughlineEnv(os.Environ())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s config -q: %v\n%s", strings.Join(argv, " "), err, out)
	}
}

func TestComposeServices(t *testing.T) {
	c := loadCompose(t)
	for _, want := range []string{"kafka", "clickhouse", "collector", "loader", "console"} {
		if _, ok := c.Services[want]; !ok {
			t.Errorf("service %q missing", want)
		}
	}
	for name, s := range c.Services {
		if s.Image == "" && s.Build == nil {
			t.Errorf("%s: neither image nor build", name)
		}
		if s.Image != "" && s.Build == nil {
			if err := pinned(s.Image); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
		if s.Healthcheck == nil || len(s.Healthcheck.Test) == 0 {
			t.Errorf("%s: no healthcheck", name)
		}
		for dep, d := range s.DependsOn {
			target, ok := c.Services[dep]
			switch {
			case !ok:
				t.Errorf("%s: depends on unknown service %q", name, dep)
			case d.Condition != "service_healthy":
				t.Errorf("%s: depends on %s with condition %q, want service_healthy", name, dep, d.Condition)
			case target.Healthcheck == nil:
				t.Errorf("%s: waits for %s to be healthy, which has no healthcheck", name, dep)
			}
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/") {
				if _, err := os.Stat(filepath.Join(root, src)); err != nil {
					t.Errorf("%s: bind-mounted %s does not exist", name, src)
				}
			} else if _, ok := c.Volumes[src]; !ok {
				t.Errorf("%s: volume %q is not declared under volumes", name, src)
			}
		}
	}
}

// TestComposeServiceEnv checks that the Throughline containers are configured
// only by variables their binaries read, in the server mode of ClickHouse.
func TestComposeServiceEnv(t *testing.T) {
	c := loadCompose(t)
	for name, s := range c.Services {
		if s.Build == nil {
			continue
		}
		t.Run(name, func(t *testing.T) {
			if s.Build.Dockerfile == "" {
				t.Fatal("build without a dockerfile")
			}
			if _, err := os.Stat(filepath.Join(root, s.Build.Context, s.Build.Dockerfile)); err != nil {
				t.Fatalf("dockerfile: %v", err)
			}
			svc := s.Build.Args["SERVICE"]
			if svc == "" {
				t.Fatal("build arg SERVICE missing")
			}
			if s.Image != "" && !strings.Contains(s.Image, ":") {
				t.Errorf("image %q has no tag", s.Image)
			}
			var names []string
			for k := range s.Environment {
				if !strings.HasPrefix(k, "THROUGHLINE_") {
					t.Errorf("environment %s: services are configured by THROUGHLINE_* variables only", k)
				}
				names = append(names, k)
			}
			if _, ok := s.Environment["THROUGHLINE_CLICKHOUSE_ADDR"]; ok && s.Environment["THROUGHLINE_CLICKHOUSE_MODE"] != "server" {
				t.Errorf("THROUGHLINE_CLICKHOUSE_ADDR set but THROUGHLINE_CLICKHOUSE_MODE is %q, want server", s.Environment["THROUGHLINE_CLICKHOUSE_MODE"])
			}
			slices.Sort(names)
			checkEnv(t, svc, "docker-compose.yml "+name, names)
		})
	}
}

// TestDockerfileImagesPinned checks every base image of the Dockerfile has a tag.
func TestDockerfileImagesPinned(t *testing.T) {
	f, err := os.Open(filepath.Join(root, "deploy", "docker", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stages := map[string]bool{}
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || !strings.EqualFold(fields[0], "FROM") {
			continue
		}
		n++
		image := fields[1]
		if len(fields) >= 4 && strings.EqualFold(fields[2], "AS") {
			stages[fields[3]] = true
		}
		if stages[image] {
			continue
		}
		if err := pinned(image); err != nil {
			t.Errorf("Dockerfile FROM: %v", err)
		}
	}
	if n < 2 {
		t.Errorf("Dockerfile has %d FROM lines, want a build and a runtime stage", n)
	}
}

// pinned reports an image reference without a tag (or digest), or on latest.
func pinned(image string) error {
	if strings.Contains(image, "@sha256:") {
		return nil
	}
	name := image[strings.LastIndex(image, "/")+1:]
	_, tag, ok := strings.Cut(name, ":")
	switch {
	case !ok || tag == "":
		return fmt.Errorf("image %q is not pinned to a tag", image)
	case tag == "latest":
		return fmt.Errorf("image %q is pinned to latest, which moves", image)
	}
	return nil
}
