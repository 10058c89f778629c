package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/krserve/krserve/bus"
	"github.com/krserve/krserve/controller/control"
	"github.com/krserve/krserve/controller/rollout"
	"github.com/krserve/krserve/schemas"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// ServiceName is the controller's NATS micro service name.
const ServiceName = "krserve-controller"

// Verbs of the rollout endpoints.
var Verbs = []string{"start", "status", "promote", "abort", "pause", "resume"}

// CodeConflict is the error code of a command that does not apply in the
// rollout's current phase (HTTP 409).
const CodeConflict schemas.Code = 409

// RolloutSubject is the subject of a rollout endpoint:
// <prefix>.v1.control.rollout.<verb>.
func RolloutSubject(s bus.Subjects, verb string) string {
	return strings.TrimSuffix(s.Alerts(), "alerts") + "control.rollout." + verb
}

// StartRequest is the body of rollout.start. Empty fields take the
// controller's defaults (canary variant "canary").
type StartRequest struct {
	Canary            string               `json:"canary,omitempty"`
	Baseline          string               `json:"baseline,omitempty"`
	Stages            []float64            `json:"stages,omitempty"`
	Interval          rollout.Duration     `json:"interval,omitempty"`
	IntervalsPerStage int                  `json:"intervals_per_stage,omitempty"`
	Gates             bool                 `json:"gates,omitempty"`
	Flags             control.VariantFlags `json:"flags"`
}

// PromoteRequest is the body of rollout.promote (an empty body is
// {"full": false}).
type PromoteRequest struct {
	Full bool `json:"full"`
}

func (c *Controller) addService() (micro.Service, error) {
	svc, err := bus.AddService(c.deps.Conn, bus.ServiceConfig{Name: ServiceName, Version: "0.1.0",
		Description: "krserve canary rollouts, statistical judge and regression detection",
		Metadata:    map[string]string{"worker": c.cfg.WorkerID},
		Stats:       func() any { return c.Status() }})
	if err != nil {
		return nil, err
	}
	handlers := map[string]func(ctx context.Context, body []byte) (any, error){
		"start": func(ctx context.Context, body []byte) (any, error) {
			var req StartRequest
			if err := decodeBody(body, &req); err != nil {
				return nil, err
			}
			return c.after(ctx)(c.StartRollout(ctx, req))
		},
		"status": func(ctx context.Context, _ []byte) (any, error) { return c.StatusNow(ctx) },
		"promote": func(ctx context.Context, body []byte) (any, error) {
			var req PromoteRequest
			if err := decodeBody(body, &req); err != nil {
				return nil, err
			}
			return c.after(ctx)(c.PromoteRollout(ctx, req.Full))
		},
		"abort":  func(ctx context.Context, _ []byte) (any, error) { return c.after(ctx)(c.AbortRollout(ctx)) },
		"pause":  func(ctx context.Context, _ []byte) (any, error) { return c.after(ctx)(c.PauseRollout(ctx)) },
		"resume": func(ctx context.Context, _ []byte) (any, error) { return c.after(ctx)(c.ResumeRollout(ctx)) },
	}
	for _, verb := range Verbs {
		h := handlers[verb]
		err := svc.AddEndpoint("rollout-"+verb, micro.HandlerFunc(func(r micro.Request) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			out, err := h(ctx, r.Data())
			if err != nil {
				_ = bus.RespondError(r, wireError(err))
				return
			}
			b, err := json.Marshal(out)
			if err != nil {
				_ = bus.RespondError(r, err)
				return
			}
			_ = r.Respond(b)
		}), micro.WithEndpointSubject(RolloutSubject(c.cfg.Subjects, verb)))
		if err != nil {
			_ = svc.Stop()
			return nil, fmt.Errorf("controller: add endpoint %s: %w", verb, err)
		}
	}
	return svc, nil
}

// after turns a command's result into the fresh status.
func (c *Controller) after(ctx context.Context) func(rollout.State, error) (any, error) {
	return func(_ rollout.State, err error) (any, error) {
		if err != nil {
			return nil, err
		}
		return c.StatusNow(ctx)
	}
}

func decodeBody(body []byte, v any) error {
	if len(body) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return schemas.NewError(schemas.CodeBadRequest, "request body: %v", err)
	}
	return nil
}

// wireError maps the sentinels to wire codes.
func wireError(err error) error {
	var e *schemas.Error
	switch {
	case errors.As(err, &e):
		return err
	case errors.Is(err, rollout.ErrBadSpec):
		return schemas.NewError(schemas.CodeBadRequest, "%v", err)
	case errors.Is(err, rollout.ErrActive), errors.Is(err, rollout.ErrNotActive), errors.Is(err, rollout.ErrBadTransition):
		return schemas.NewError(CodeConflict, "%v", err)
	case errors.Is(err, rollout.ErrConflict), errors.Is(err, ErrNotRunning):
		return schemas.NewError(schemas.CodeNoWorker, "%v", err)
	}
	return schemas.NewError(schemas.CodeInternal, "%v", err)
}

// Client calls the rollout endpoints of whichever controller answers.
type Client struct {
	nc       *nats.Conn
	subjects bus.Subjects
}

// NewClient returns a client on nc.
func NewClient(nc *nats.Conn, subjects bus.Subjects) *Client {
	return &Client{nc: nc, subjects: subjects}
}

func (c *Client) call(ctx context.Context, verb string, req any) (Status, error) {
	var body []byte
	if req != nil {
		var err error
		if body, err = json.Marshal(req); err != nil {
			return Status{}, err
		}
	}
	subj := RolloutSubject(c.subjects, verb)
	msg, err := c.nc.RequestWithContext(ctx, subj, body)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = nats.ErrTimeout
		}
		return Status{}, bus.MapRequestError(subj, err)
	}
	if err := bus.ServiceError(msg); err != nil {
		return Status{}, err
	}
	var s Status
	if err := json.Unmarshal(msg.Data, &s); err != nil {
		return Status{}, fmt.Errorf("controller: decode %s reply: %w", verb, err)
	}
	return s, nil
}

// Start starts a rollout.
func (c *Client) Start(ctx context.Context, req StartRequest) (Status, error) {
	return c.call(ctx, "start", req)
}

// Status returns the controller status as stored.
func (c *Client) Status(ctx context.Context) (Status, error) { return c.call(ctx, "status", nil) }

// Promote advances one stage, or promotes at once with full.
func (c *Client) Promote(ctx context.Context, full bool) (Status, error) {
	return c.call(ctx, "promote", PromoteRequest{Full: full})
}

// Abort rolls the active rollout back.
func (c *Client) Abort(ctx context.Context) (Status, error) { return c.call(ctx, "abort", nil) }

// Pause pauses the active rollout.
func (c *Client) Pause(ctx context.Context) (Status, error) { return c.call(ctx, "pause", nil) }

// Resume resumes a paused rollout.
func (c *Client) Resume(ctx context.Context) (Status, error) { return c.call(ctx, "resume", nil) }
