package ddlcmd

import (
	"bytes"
	"strings"
	"testing"
)

func TestRunPrintsClusteredDDL(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := Run([]string{"--cluster", "prod"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	s := out.String()
	for _, want := range []string{
		"CREATE DATABASE IF NOT EXISTS `throughline` ON CLUSTER 'prod';",
		"-- 0004_entities",
		"CREATE TABLE IF NOT EXISTS `throughline`.`sessions_local` ON CLUSTER 'prod'",
		"ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/throughline/sessions_local', '{replica}', version, deleted)",
		"ENGINE = Distributed('prod', `throughline`, `sessions_local`, cityHash64(tenant, account));",
		"INSERT INTO `throughline`.schema_migrations",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("missing %q", want)
		}
	}
	out.Reset()
	if code := Run([]string{"--from-version", "6", "--single-node"}, &out, &errOut); code != 0 || strings.Contains(out.String(), "0004_") ||
		!strings.Contains(out.String(), "CREATE TABLE IF NOT EXISTS throughline.traffic_daily") {
		t.Fatalf("single node from 6: exit %d\n%s", code, out.String())
	}
	if code := Run([]string{"extra"}, &out, &errOut); code != 2 {
		t.Fatalf("an argument: exit %d", code)
	}
}
