// Package client is the Go producer API of krserve: generate with a
// streaming iterator, chat, cancel, and durable batch jobs, over a
// *nats.Conn the caller owns.
//
// A Stream belongs to the goroutine that reads it. Leaving a stream (Close,
// or a cancelled context) unsubscribes; the serving engine notices that
// nobody listens any more and frees the request's KV at once, and with a
// cancelled context the client also publishes an explicit cancel.
package client
