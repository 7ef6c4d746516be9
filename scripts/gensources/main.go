// Command gensources writes the stitcher's generated default referrer rules
// (services/stitcher/internal/channel/default_sources.yaml) from a checkout of
// Matomo's searchengine-and-social-list (CC0): every AI assistant, search
// engine and social network host it lists becomes a referrer rule, so the
// defaults follow a list the analytics community keeps up to date instead of
// hosts typed by hand.
//
// Refresh:
//
//	git clone https://github.com/matomo-org/searchengine-and-social-list /tmp/matomo
//	cd scripts/gensources && GOWORK=off go run . -src /tmp/matomo \
//	    -out ../../services/stitcher/internal/channel/default_sources.yaml
//
// then run the channel package's tests: they are generated from the same file.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// category is one file of the list and the channel its hosts default to.
type category struct {
	file, name, channel, medium string
}

// The order decides which entry keeps a host listed twice: the first one.
// Socials come before search engines: the list has Facebook as a search
// engine too (its site search), but a visit from facebook.com is social.
var categories = []category{
	{"AIAssistants.yml", "ai", "ai_assistant", "referral"},
	{"Socials.yml", "social", "social", "social"},
	{"SearchEngines.yml", "search", "organic", "organic"},
}

type entry struct {
	cat   category
	name  string
	hosts []string
}

func main() {
	src := flag.String("src", "", "checkout of github.com/matomo-org/searchengine-and-social-list")
	out := flag.String("out", "", "file to write (default: stdout)")
	commit := flag.String("commit", "", "commit of the checkout (default: git rev-parse HEAD in -src)")
	date := flag.String("date", "", "commit date (default: from git)")
	flag.Parse()
	if *src == "" {
		log.Fatal("-src: required")
	}
	if *commit == "" {
		*commit = gitOut(*src, "rev-parse", "HEAD")
	}
	if *date == "" && *commit != "" {
		*date = gitOut(*src, "show", "-s", "--format=%cs", *commit)
	}
	var entries []entry
	for _, c := range categories {
		es, err := read(filepath.Join(*src, c.file), c)
		if err != nil {
			log.Fatal(err)
		}
		entries = append(entries, es...)
	}
	b := render(entries, *commit, *date)
	if *out == "" {
		os.Stdout.Write(b)
		return
	}
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		log.Fatal(err)
	}
}

func gitOut(dir string, args ...string) string {
	b, err := exec.Command("git", append([]string{"-C", dir}, args...)...).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// read parses one file. AI assistants and socials map a name to hosts;
// search engines map a name to configurations, each with urls.
func read(path string, c category) ([]entry, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", path, err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: not a mapping", path)
	}
	m := doc.Content[0]
	var out []entry
	for i := 0; i+1 < len(m.Content); i += 2 { // document order, as the list's maintainers wrote it
		name := m.Content[i].Value
		var urls []string
		if c.name == "search" {
			var cfgs []struct {
				URLs []string `yaml:"urls"`
			}
			if err := m.Content[i+1].Decode(&cfgs); err != nil {
				return nil, fmt.Errorf("%s: %s: %w", path, name, err)
			}
			for _, cf := range cfgs {
				urls = append(urls, cf.URLs...)
			}
		} else if err := m.Content[i+1].Decode(&urls); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, name, err)
		}
		e := entry{cat: c, name: name}
		for _, u := range urls {
			if h := host(u); h != "" {
				e.hosts = append(e.hosts, h)
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// host normalises one url of the list to the form the classifier keys on:
// lower case, no "www.", an optional path, "{}" placeholders kept. An
// android-app:// referrer ("android-app//com.google.android.…/https/…") keys
// on the app's package, which is what a parsed referrer's host is.
func host(u string) string {
	u = strings.ToLower(strings.TrimSpace(u))
	if rest, ok := strings.CutPrefix(u, "android-app//"); ok {
		u, _, _ = strings.Cut(rest, "/")
	}
	u = strings.TrimPrefix(u, "www.")
	u = strings.TrimSuffix(u, "/")
	return u
}

var nonSlug = regexp.MustCompile(`[^\p{L}\p{N}.]+`)

// slug is the source name of an entry: its name in lower case, runs of other
// characters than letters, digits and dots as "_".
func slug(name string) string {
	if u, err := url.PathUnescape(name); err == nil {
		name = u
	}
	return strings.Trim(nonSlug.ReplaceAllString(strings.ToLower(name), "_"), "_")
}

func render(entries []entry, commit, date string) []byte {
	seen := map[string]string{} // host → entry that kept it
	var dropped []string
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# Code generated by scripts/gensources; DO NOT EDIT.\n")
	fmt.Fprintf(&buf, "#\n# Source: https://github.com/matomo-org/searchengine-and-social-list\n")
	fmt.Fprintf(&buf, "# Commit: %s (%s)\n", commit, date)
	fmt.Fprintf(&buf, "# License: CC0 1.0 Universal (public domain dedication); see THIRD_PARTY.md.\n")
	fmt.Fprintf(&buf, "# Files: AIAssistants.yml → ai_assistant, Socials.yml → social, SearchEngines.yml → organic.\n")
	fmt.Fprintf(&buf, "# The hand-kept rules in default_rules.yaml come first and win over these\n# for the same host; see docs/analytics.md.\n\n")
	var body bytes.Buffer
	body.WriteString("referrers:\n")
	n := 0
	for _, e := range entries {
		var hosts []string
		for _, h := range e.hosts {
			if by, ok := seen[h]; ok {
				if by != e.cat.name+"/"+e.name {
					dropped = append(dropped, fmt.Sprintf("%s (%s %s; kept by %s)", h, e.cat.name, e.name, by))
				}
				continue
			}
			seen[h] = e.cat.name + "/" + e.name
			hosts = append(hosts, h)
		}
		if len(hosts) == 0 {
			continue
		}
		n += len(hosts)
		fmt.Fprintf(&body, "  - {category: %s, channel: %s, medium: %s, source: %s, name: %s, hosts: [%s]}\n",
			e.cat.name, e.cat.channel, e.cat.medium, q(slug(e.name)), q(e.name), strings.Join(mapq(hosts), ", "))
	}
	sort.Strings(dropped)
	fmt.Fprintf(&buf, "# %d hosts. Listed twice in the source, kept once (first file/entry wins):\n", n)
	for _, d := range dropped {
		fmt.Fprintf(&buf, "#   %s\n", d)
	}
	buf.WriteString("\n")
	buf.Write(body.Bytes())
	return buf.Bytes()
}

// q quotes a string for YAML flow style (a JSON string is a YAML string).
func q(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func mapq(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = q(s)
	}
	return out
}
