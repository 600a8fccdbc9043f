// Package revocation carries emergency revocations of a user, an agent or
// a session to every gateway replica within a second, over a shared,
// ordered channel: a compacted Kafka topic keyed by kind/subject, so the
// latest record per subject is what is in force and a replica that starts
// late reads everything in force before it reports Ready.
//
// One Node per gateway process keeps a State (lock-free reads on the
// request path) in step with the topic, calls the gateway's Apply hook for
// each record, and acknowledges it on a second topic, where it also sends
// heartbeats. Revoke and Lift publish a record and wait until every replica
// that was alive has acknowledged it, naming those that did not.
package revocation
