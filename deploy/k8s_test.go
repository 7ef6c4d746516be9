package deploy

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/throughline/throughline/pkg/tenants"
)

var k8sDir = filepath.Join(root, "deploy", "k8s")

// object is the part of a Kubernetes object the tests look at.
type object struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
	Spec       struct {
		// Deployment
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec struct {
				Containers []container `yaml:"containers"`
				Volumes    []volume    `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
		// Service: Deployment's selector is matchLabels, a Service's is a plain map;
		// decoded separately in serviceSelector.
	} `yaml:"spec"`
	raw *yaml.Node
}

type container struct {
	Name  string `yaml:"name"`
	Image string `yaml:"image"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Env []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom *struct {
			ConfigMapKeyRef *keyRef `yaml:"configMapKeyRef"`
			SecretKeyRef    *keyRef `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	VolumeMounts []struct {
		Name string `yaml:"name"`
	} `yaml:"volumeMounts"`
}

type volume struct {
	Name      string `yaml:"name"`
	ConfigMap *struct {
		Name string `yaml:"name"`
	} `yaml:"configMap"`
}

type keyRef struct {
	Name string `yaml:"name"`
	Key  string `yaml:"key"`
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
}

type kustomization struct {
	Resources []string `yaml:"resources"`
	Images    []struct {
		Name   string `yaml:"name"`
		NewTag string `yaml:"newTag"`
	} `yaml:"images"`
}

// loadManifests parses every document of every YAML file in deploy/k8s but
// the kustomization.
func loadManifests(t *testing.T) (map[string][]object, kustomization) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(k8sDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s (%v)", k8sDir, err)
	}
	var k kustomization
	byFile := map[string][]object{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		base := filepath.Base(f)
		if base == "kustomization.yaml" {
			if err := yaml.Unmarshal(b, &k); err != nil {
				t.Fatalf("%s: %v", base, err)
			}
			continue
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for i := 0; ; i++ {
			var n yaml.Node
			if err := dec.Decode(&n); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s document %d: %v", base, i, err)
			}
			var o object
			if err := n.Decode(&o); err != nil {
				t.Fatalf("%s document %d: %v", base, i, err)
			}
			if o.APIVersion == "" || o.Kind == "" || o.Metadata.Name == "" {
				t.Errorf("%s document %d: apiVersion, kind and metadata.name are required", base, i)
			}
			o.raw = &n
			byFile[base] = append(byFile[base], o)
		}
	}
	return byFile, k
}

func TestK8sKustomization(t *testing.T) {
	byFile, k := loadManifests(t)
	for _, r := range k.Resources {
		if _, ok := byFile[r]; !ok {
			t.Errorf("kustomization lists %s, which is not a manifest in deploy/k8s", r)
		}
	}
	for f := range byFile {
		if !slices.Contains(k.Resources, f) {
			t.Errorf("%s is not listed in kustomization.yaml resources", f)
		}
	}
	for _, img := range k.Images {
		if img.NewTag == "" || img.NewTag == "latest" {
			t.Errorf("kustomization image %s: pin newTag to a version", img.Name)
		}
	}
}

func TestK8sDeployments(t *testing.T) {
	byFile, k := loadManifests(t)
	configMaps, secrets := map[string]map[string]string{}, map[string]map[string]string{}
	var deployments, services []object
	for _, objs := range byFile {
		for _, o := range objs {
			switch o.Kind {
			case "ConfigMap":
				configMaps[o.Metadata.Name] = o.Data
			case "Secret":
				secrets[o.Metadata.Name] = merge(o.Data, o.StringData)
			case "Deployment":
				deployments = append(deployments, o)
			case "Service":
				services = append(services, o)
			}
		}
	}
	for _, want := range []string{"collector", "loader", "console"} {
		if !slices.ContainsFunc(deployments, func(o object) bool { return o.Metadata.Name == want }) {
			t.Errorf("no Deployment %s", want)
		}
	}
	tagged := map[string]bool{}
	for _, img := range k.Images {
		tagged[img.Name] = img.NewTag != ""
	}
	for _, d := range deployments {
		t.Run(d.Metadata.Name, func(t *testing.T) {
			spec := d.Spec.Template.Spec
			if len(d.Spec.Selector.MatchLabels) == 0 || !subset(d.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels) {
				t.Error("selector.matchLabels must be non-empty and match the pod template's labels")
			}
			if len(spec.Containers) == 0 {
				t.Fatal("no containers")
			}
			for _, c := range spec.Containers {
				if err := pinned(c.Image); err != nil && !tagged[c.Image] {
					t.Errorf("container %s: %v (and kustomization sets no tag for it)", c.Name, err)
				}
				checkProbe(t, c, "readinessProbe", c.ReadinessProbe, "/readyz")
				checkProbe(t, c, "livenessProbe", c.LivenessProbe, "/healthz")
				for _, r := range []string{"cpu", "memory"} {
					if c.Resources.Requests[r] == "" || c.Resources.Limits[r] == "" {
						t.Errorf("container %s: resources.requests and resources.limits need %s", c.Name, r)
					}
				}
				var names []string
				for _, e := range c.Env {
					names = append(names, e.Name)
					if e.ValueFrom == nil {
						continue
					}
					if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
						if _, ok := configMaps[r.Name][r.Key]; !ok {
							t.Errorf("env %s: ConfigMap %s has no key %s", e.Name, r.Name, r.Key)
						}
					}
					if r := e.ValueFrom.SecretKeyRef; r != nil {
						if _, ok := secrets[r.Name][r.Key]; !ok {
							t.Errorf("env %s: Secret %s has no key %s", e.Name, r.Name, r.Key)
						}
					}
				}
				for _, m := range c.VolumeMounts {
					if !slices.ContainsFunc(spec.Volumes, func(v volume) bool {
						return v.Name == m.Name && (v.ConfigMap == nil || configMaps[v.ConfigMap.Name] != nil)
					}) {
						t.Errorf("container %s: volume mount %s has no volume (or its ConfigMap is missing)", c.Name, m.Name)
					}
				}
				service := strings.TrimPrefix(c.Image, "throughline-")
				checkEnv(t, service, "deploy/k8s Deployment "+d.Metadata.Name, names)
			}
		})
	}
	for _, s := range services {
		var sel struct {
			Spec struct {
				Selector map[string]string `yaml:"selector"`
			} `yaml:"spec"`
		}
		if err := s.raw.Decode(&sel); err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(deployments, func(d object) bool {
			return len(sel.Spec.Selector) > 0 && subset(sel.Spec.Selector, d.Spec.Template.Metadata.Labels)
		}) {
			t.Errorf("Service %s selects no Deployment's pods", s.Metadata.Name)
		}
	}
}

func checkProbe(t *testing.T, c container, what string, p *probe, path string) {
	t.Helper()
	if p == nil || p.HTTPGet == nil {
		t.Errorf("container %s: %s must be an httpGet on %s", c.Name, what, path)
		return
	}
	if p.HTTPGet.Path != path {
		t.Errorf("container %s: %s path %s, want %s", c.Name, what, p.HTTPGet.Path, path)
	}
	found := false
	for _, port := range c.Ports {
		if p.HTTPGet.Port == port.Name || p.HTTPGet.Port == port.ContainerPort {
			found = true
		}
	}
	if !found {
		t.Errorf("container %s: %s port %v is not one of the container's ports", c.Name, what, p.HTTPGet.Port)
	}
}

// TestK8sTenants checks the tenants ConfigMap is a valid tenants file.
func TestK8sTenants(t *testing.T) {
	byFile, _ := loadManifests(t)
	found := false
	for _, objs := range byFile {
		for _, o := range objs {
			if y, ok := o.Data["tenants.yaml"]; ok && o.Kind == "ConfigMap" {
				found = true
				if _, err := tenants.Parse([]byte(y)); err != nil {
					t.Errorf("ConfigMap %s tenants.yaml: %v", o.Metadata.Name, err)
				}
			}
		}
	}
	if !found {
		t.Error("no ConfigMap holds a tenants.yaml")
	}
}

// TestTenantsExample checks the documented example loads: one tenant with two
// accounts, each with a key.
func TestTenantsExample(t *testing.T) {
	c, err := tenants.Load(filepath.Join(root, "deploy", "tenants.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Tenants) != 1 || len(c.Tenants[0].Accounts) != 2 {
		t.Fatalf("want one tenant with two accounts, got %+v", c.Tenants)
	}
	keys := tenants.NewKeys(c)
	for _, a := range c.Tenants[0].Accounts {
		if len(a.SiteKeys) == 0 || len(a.ServerKeys) == 0 || len(a.WriteKeys) > 0 {
			t.Errorf("account %s: want site and server keys, no legacy write keys: %+v", a.ID, a)
		}
		for _, k := range a.SiteKeys {
			if p, ok := keys.Lookup(k); !ok || p.Account != a.ID || p.Server {
				t.Errorf("site key of %s resolves to %+v", a.ID, p)
			}
		}
		for _, k := range a.ServerKeys {
			if p, ok := keys.Lookup(k); !ok || p.Account != a.ID || !p.Server {
				t.Errorf("server key of %s resolves to %+v", a.ID, p)
			}
		}
	}
}

func merge(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func subset(sub, of map[string]string) bool {
	for k, v := range sub {
		if of[k] != v {
			return false
		}
	}
	return true
}
