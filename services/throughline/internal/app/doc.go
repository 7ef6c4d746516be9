// Package app assembles the all-in-one Throughline process: the embedded
// Kafka broker and ClickHouse engine, and over them the collector,
// stitcher, loader, alerter and console services and the ClickHouse HTTP
// interface, configured as they run apart in distributed mode (one process
// each, docker-compose.yml). Run stops them in dependency order so nothing
// the collector accepted is lost (app.go).
package app
