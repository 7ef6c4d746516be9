// Package intake is the collector's request pipeline, the one way every
// route takes: the request's key (Key, Owner), its rate limit (Handle), its
// body within the memory budget and read deadlines (ReadBody), refusals
// with the field at fault and a dead letter (Request.Refuse, DeadLetter),
// publishing to Kafka within the in-flight budget (Request.Publish) and the
// answer (WriteJSON, WriteError, Unavailable, WriteGIF). Routes only map a
// vendor's payload to events between those steps.
//
// Metric names, status codes, dead-letter reasons and headers are the
// collector's API (docs/operations.md, the collector's tests assert them):
// they live here, once.
package intake
