package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
)

// TestKafkaCommand runs `throughline kafka`, the embedded broker alone, as
// the distributed services' Kafka: beyond loopback it refuses to start
// without SASL; with SASL it answers metadata to a client that logs in and
// nothing to one that does not; it prints the address clients use and
// stops cleanly on SIGTERM.
func TestKafkaCommand(t *testing.T) {
	code, out := runBinary(t, "kafka", "--data-dir", t.TempDir(), "--kafka-host", "0.0.0.0", "--kafka-port", fmt.Sprint(freePort(t)))
	if code != 1 || !strings.Contains(out, "set a SASL user and password") {
		t.Fatalf("broker on every interface without SASL: exit %d\n%s", code, out)
	}

	const user, password = "services", "e2e-kafka-sasl-password-01"
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	_, port, _ := strings.Cut(addr, ":")
	cmd := exec.Command(binary, "kafka", "--data-dir", t.TempDir(), "--kafka-port", port, "--kafka-sasl-user", user, "--log-pretty=false")
	cmd.Env = append(baseEnv(), "THROUGHLINE_KAFKA_SASL_PASSWORD="+password) // a secret: never on the command line
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })

	metadata := func(opts ...kgo.Opt) error {
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
		if err != nil {
			return err
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err = kadm.NewClient(cl).BrokerMetadata(ctx)
		return err
	}
	login := kgo.SASL(plain.Auth{User: user, Pass: password}.AsMechanism())
	for deadline := time.Now().Add(60 * time.Second); metadata(login) != nil; time.Sleep(100 * time.Millisecond) {
		select {
		case err := <-exited:
			t.Fatalf("throughline kafka exited: %v\n%s", err, logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no metadata after 60s:\n%s", logs)
		}
	}
	if err := metadata(); err == nil {
		t.Fatal("a client without the SASL login got metadata")
	}
	if err := metadata(kgo.SASL(plain.Auth{User: user, Pass: "a-wrong-password-000000"}.AsMechanism())); err == nil {
		t.Fatal("a wrong SASL password got metadata")
	}
	if !strings.Contains(logs.String(), "kafka  "+addr) || strings.Contains(logs.String(), password) {
		t.Fatalf("the banner names the address and never the password:\n%s", logs)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, logs)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("still running 30s after SIGTERM:\n%s", logs)
	}
}
