// Package testenv gives tests the real parts they run against: the shared
// model and vocabulary files that sit beside the repository (../shared, or
// $KRSERVE_SHARED), and an in-process nats-server with JetStream on a random
// port that is shut down by t.Cleanup.
//
// Missing shared data fails the test rather than skipping it: CI always lays
// the shared folder beside the clone, so a skip would hide a broken setup.
package testenv
