package deploy

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// modulePrefix starts every module path of the repository.
const modulePrefix = "github.com/throughline/throughline/"

// allInOne is the one service module that may depend on the others: the
// `throughline` binary composes every service in one process.
const allInOne = "services/throughline"

// TestServiceModulesIndependent keeps the services apart: no service module
// (services/*, but the all-in-one) and no shared module (pkg, schemas)
// requires another service's module in its go.mod, or imports one of its
// packages (tests included, as `go list -deps -test` sees them). Records
// that flow between services live in pkg/contract; a service that needs
// another's code has found a contract that belongs there.
func TestServiceModulesIndependent(t *testing.T) {
	dirs := []string{"pkg", "schemas"}
	mods, err := filepath.Glob(filepath.Join(root, "services", "*", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	services := map[string]bool{} // module path → true, for services/*
	for _, m := range mods {
		dir, err := filepath.Rel(root, filepath.Dir(m))
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.ToSlash(dir)
		services[modulePrefix+dir] = true
		if dir != allInOne {
			dirs = append(dirs, dir)
		}
	}
	if len(services) < 6 {
		t.Fatalf("found %d service modules under services/, want the six services and the all-in-one", len(services))
	}
	// serviceOf is the service module a package or module path belongs to,
	// or "" when it is not one.
	serviceOf := func(path string) string {
		for mod := range services {
			if path == mod || strings.HasPrefix(path, mod+"/") {
				return mod
			}
		}
		return ""
	}
	for _, dir := range dirs {
		t.Run(dir, func(t *testing.T) {
			t.Parallel()
			self := modulePrefix + dir
			named := map[string]bool{}
			for _, req := range goModPaths(t, filepath.Join(root, dir, "go.mod")) {
				if s := serviceOf(req); s != "" && s != self && !named[s] {
					named[s] = true
					t.Errorf("%s/go.mod requires or replaces the service module %s", dir, s)
				}
			}
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(goTool(), "list", "-deps", "-test", "-f", "{{.ImportPath}}", "./...")
			cmd.Dir = filepath.Join(root, dir)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("go list -deps -test in %s: %v\n%s", dir, err, stderr.String())
			}
			bad := map[string]bool{}
			for _, pkg := range strings.Fields(stdout.String()) {
				// Test variants are listed as "pkg [pkg.test]".
				if s := serviceOf(pkg); s != "" && s != self {
					bad[pkg] = true
				}
			}
			var list []string
			for p := range bad {
				list = append(list, p)
			}
			sort.Strings(list)
			for _, p := range list {
				t.Errorf("%s imports %s, a package of another service's module", dir, p)
			}
		})
	}
}

// goModPaths are the module paths a go.mod names in require and replace
// directives, blocks included.
func goModPaths(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	block := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if i := strings.Index(line, "//"); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		fields := strings.Fields(line)
		switch {
		case len(fields) == 0:
			continue
		case block != "" && fields[0] == ")":
			block = ""
		case block != "":
			out = append(out, fields[0])
		case (fields[0] == "require" || fields[0] == "replace") && len(fields) == 2 && fields[1] == "(":
			block = fields[0]
		case (fields[0] == "require" || fields[0] == "replace") && len(fields) > 1:
			out = append(out, fields[1])
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
