package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestFlagsAndValidation(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"-h"}, &out); code != 0 {
		t.Fatalf("-h exited %d", code)
	}
	for _, flag := range []string{"-loader-group", "-loader-max-age", "-kafka-brokers", "-clickhouse-mode", "-clickhouse-database"} {
		if !strings.Contains(out.String(), flag) {
			t.Errorf("usage lacks %s:\n%s", flag, out.String())
		}
	}
	out.Reset()
	if code := run([]string{"-loader-max-rows=0", "-clickhouse-mode=server"}, &out); code != 2 {
		t.Fatalf("bad config exited %d, want 2", code)
	}
	for _, setting := range []string{"loader-max-rows", "clickhouse addr"} {
		if !strings.Contains(out.String(), setting) {
			t.Errorf("error does not name %s: %s", setting, out.String())
		}
	}
}
