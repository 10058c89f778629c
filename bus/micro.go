package bus

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/krserve/krserve/schemas"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// ServiceConfig describes a worker as a NATS micro service, so that
// `nats micro ls/info/stats` lists it.
type ServiceConfig struct {
	Name        string            // e.g. "krserve-tokenizer"
	Version     string            // semantic version
	Description string            //
	Metadata    map[string]string // worker id, variant, model, …
	// Stats, when set, adds worker-specific data to $SRV.STATS replies.
	Stats func() any
}

// AddService registers a micro service on nc. The caller stops it with
// Stop before closing nc.
func AddService(nc *nats.Conn, cfg ServiceConfig) (micro.Service, error) {
	mc := micro.Config{Name: cfg.Name, Version: cfg.Version, Description: cfg.Description, Metadata: cfg.Metadata}
	if cfg.Stats != nil {
		mc.StatsHandler = func(*micro.Endpoint) any { return cfg.Stats() }
	}
	svc, err := micro.AddService(nc, mc)
	if err != nil {
		return nil, fmt.Errorf("bus: add service %s: %w", cfg.Name, err)
	}
	return svc, nil
}

// RespondError replies to a micro request with the typed form of err: the
// Nats-Service-Error(-Code) headers plus an encoded schemas.Error body.
func RespondError(req micro.Request, err error) error {
	e := schemas.AsError(err)
	body, _ := schemas.Encode(e)
	return req.Error(strconv.Itoa(int(e.Code)), e.Message, body)
}

// Handler adapts a typed function to a micro handler: it decodes the request
// into a fresh Req, calls fn, and encodes the response or the error. A
// malformed request gets a CodeBadRequest reply; fn's error is mapped with
// schemas.AsError. The handler never panics on input.
func Handler[Req, Resp any, PReq interface {
	*Req
	schemas.Message
}, PResp interface {
	*Resp
	schemas.Message
}](timeout time.Duration, fn func(ctx context.Context, req PReq) (PResp, error)) micro.Handler {
	return micro.HandlerFunc(func(r micro.Request) {
		req := PReq(new(Req))
		if err := schemas.Decode(r.Data(), req); err != nil {
			_ = RespondError(r, err)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		resp, err := fn(ctx, req)
		if err != nil {
			_ = RespondError(r, err)
			return
		}
		b, err := schemas.Encode(resp)
		if err != nil {
			_ = RespondError(r, err)
			return
		}
		_ = r.Respond(b)
	})
}
