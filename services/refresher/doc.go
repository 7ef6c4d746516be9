// Package refresher is the component that keeps the report aggregates
// (traffic_daily, leads_daily, leads_hourly, spend_daily) equal to the
// entity tables the loader writes: it runs the rounds of pkg/aggregates
// while it leads a Kafka consumer group named after the database, so
// exactly one refresher is active per database however many run — the
// others stand by and one takes over when the leader leaves.
//
// The console only reads the aggregates; the all-in-one and the refresher
// binary (cmd/refresher) run this component. Why it is a component of its
// own: docs/design/refresher.md.
package refresher
