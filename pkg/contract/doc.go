// Package contract is the neutral home of what flows between Throughline's
// services; it holds no code of its own, only its sub-packages:
//
//   - entity: the stitcher's entity records (sessions, calls, leads, deals,
//     attribution), the wire form of the entity topics; their JSON schemas in
//     schemas/entities are generated from them (TestSchemas -update).
//   - tables: each entity topic's ClickHouse table, columns and row mapping,
//     and the costs table's columns; the loader fills the tables with them.
//   - alert: the alert record the alerter writes and the loader and console
//     read.
//   - deadletter: the dead letter a consumer produces for a record it cannot
//     read.
//   - model: the attribution models' names.
//
// The event envelope and the dead-letter value are pkg/event's; topic names
// are pkg/kafka's (topics.go). A service module depends on these packages,
// never on another service's module: deploy's TestServiceModulesIndependent
// keeps it so.
package contract
