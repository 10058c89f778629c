package schemas

import (
	"errors"
	"fmt"
)

// Code is a numeric error code carried on the wire (in Error messages and in
// the Nats-Service-Error-Code header). The numbers follow HTTP status codes
// so gateways can map them directly.
type Code int

// Error codes. Retryable says whether resending the same request may succeed.
const (
	CodeBadRequest   Code = 400 // malformed or invalid request; not retryable
	CodeUnauthorized Code = 401 // missing or wrong credentials
	CodeNotFound     Code = 404 // unknown model, job or variant
	CodeTimeout      Code = 408 // deadline passed before completion; retryable
	CodeTooLarge     Code = 413 // payload or prompt longer than allowed
	CodeOverloaded   Code = 429 // a bounded queue is full; retry after a back-off
	CodeCanceled     Code = 499 // the request was cancelled by its producer
	CodeInternal     Code = 500 // a bug or an engine failure
	CodeNoWorker     Code = 503 // no worker can take the request now (none up, all draining); retryable
	CodeWorkerLost   Code = 504 // the worker serving the request died mid-stream; retryable
)

var codeNames = map[Code]string{
	CodeBadRequest: "bad_request", CodeUnauthorized: "unauthorized", CodeNotFound: "not_found",
	CodeTimeout: "timeout", CodeTooLarge: "too_large", CodeOverloaded: "overloaded",
	CodeCanceled: "canceled", CodeInternal: "internal", CodeNoWorker: "no_worker", CodeWorkerLost: "worker_lost",
}

func (c Code) String() string {
	if n, ok := codeNames[c]; ok {
		return n
	}
	return fmt.Sprintf("code_%d", int(c))
}

// Retryable reports whether a request that failed with c may succeed if sent again.
func (c Code) Retryable() bool {
	switch c {
	case CodeTimeout, CodeOverloaded, CodeNoWorker, CodeWorkerLost:
		return true
	}
	return false
}

// Error is the typed error message sent on a stream or as a reply, and also
// a Go error. errors.Is(err, &Error{Code: c}) matches any Error with code c,
// and the Err* sentinels below are such values.
type Error struct {
	V         int    `msgpack:"v"`
	RequestID string `msgpack:"id,omitempty"`
	Code      Code   `msgpack:"code"`
	Message   string `msgpack:"message"`
	Retryable bool   `msgpack:"retryable"`
}

// Sentinels for errors.Is against typed errors, one per code.
var (
	ErrBadRequest = &Error{Code: CodeBadRequest}
	ErrNotFound   = &Error{Code: CodeNotFound}
	ErrTimeout    = &Error{Code: CodeTimeout}
	ErrTooLarge   = &Error{Code: CodeTooLarge}
	ErrOverloaded = &Error{Code: CodeOverloaded}
	ErrCanceled   = &Error{Code: CodeCanceled}
	ErrInternal   = &Error{Code: CodeInternal}
	ErrNoWorker   = &Error{Code: CodeNoWorker}
	ErrWorkerLost = &Error{Code: CodeWorkerLost}
)

// NewError builds an Error with Retryable derived from the code.
func NewError(code Code, format string, args ...any) *Error {
	return &Error{V: Version, Code: code, Message: fmt.Sprintf(format, args...), Retryable: code.Retryable()}
}

func (e *Error) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("krserve: %s (%d)", e.Code, int(e.Code))
	}
	return fmt.Sprintf("krserve: %s (%d): %s", e.Code, int(e.Code), e.Message)
}

// Is matches another *Error with the same code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// AsError converts any error to a wire Error: typed errors pass through,
// ErrInvalid and ErrVersion become CodeBadRequest, anything else CodeInternal.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		out := *e
		out.V = Version
		return &out
	}
	if errors.Is(err, ErrInvalid) || errors.Is(err, ErrVersion) {
		return NewError(CodeBadRequest, "%v", err)
	}
	return NewError(CodeInternal, "%v", err)
}

// Validate implements Message.
func (e *Error) Validate() error {
	if e.Code < 100 || e.Code > 999 {
		return invalid("Error", "code", "%d is not a three-digit code", int(e.Code))
	}
	return nil
}

func (e *Error) version() int { return e.V }
