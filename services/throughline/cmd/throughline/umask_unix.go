//go:build unix

package main

import "syscall"

// privateFiles makes every file and directory this process creates — the
// embedded Kafka's segments (the stitcher's changelog among them),
// ClickHouse's parts, the tenants file, the demo's state — readable by its
// owner only (0600/0700), whatever the umask it was started with: they hold
// personal data and credentials. Libraries that create files with 0644
// (kfake does) are covered too, as the umask applies to them.
func privateFiles() { syscall.Umask(0o077) }
