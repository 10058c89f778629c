// Package bus is krserve's NATS plumbing: the embedded server, connections to
// an external cluster, the subject names of the wire contract, sequence-
// numbered token streams, request helpers that map NATS failures to typed
// errors, and NATS micro service registration.
//
// Concurrency and ownership: a Server is started by Run(ctx) (or Start) and
// stopped by Shutdown, which waits for the server's goroutines. A *nats.Conn
// is shared by everything in a process and is safe for concurrent use; the
// component that dialled it closes it. A StreamWriter belongs to the one
// goroutine that generates a request (sequence numbers must be assigned in
// order); a StreamReader belongs to the one goroutine consuming the stream.
//
// Failure mapping (see errors.go): a request that nobody subscribes to fails
// at once with schemas.CodeNoWorker instead of waiting for a timeout; a
// subscription whose pending buffer overflowed (the client dropped messages)
// reports ErrSlowConsumer rather than silently missing tokens; a gap in a
// token stream's sequence numbers reports ErrGap; payloads over the server's
// max_payload fail with schemas.CodeTooLarge before they are sent.
package bus
