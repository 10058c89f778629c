package bus

import (
	"context"
	"fmt"

	"github.com/krserve/krserve/schemas"
	"github.com/nats-io/nats.go"
)

// Request sends req on subject and decodes the reply into resp. Failures are
// typed: no responder → CodeNoWorker at once, deadline → CodeTimeout, a micro
// service error reply → the *schemas.Error it carries.
func Request(ctx context.Context, nc *nats.Conn, subject string, req, resp schemas.Message) error {
	b, err := schemas.Encode(req)
	if err != nil {
		return err
	}
	if mp := nc.MaxPayload(); mp > 0 && int64(len(b)) > mp {
		return schemas.NewError(schemas.CodeTooLarge, "request of %d bytes exceeds the server's max_payload %d", len(b), mp)
	}
	msg, err := nc.RequestWithContext(ctx, subject, b)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			err = nats.ErrTimeout
		}
		return MapRequestError(subject, err)
	}
	if err := ServiceError(msg); err != nil {
		return err
	}
	if err := schemas.Decode(msg.Data, resp); err != nil {
		return fmt.Errorf("bus: reply on %s: %w", subject, err)
	}
	return nil
}
