package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/krserve/krserve/bus"
	"github.com/krserve/krserve/schemas"
)

// OpenAI error types.
const (
	typeInvalidRequest = "invalid_request_error"
	typeAuthentication = "authentication_error"
	typeNotFound       = "not_found_error"
	typeRateLimit      = "rate_limit_error"
	typeServer         = "server_error"
	typeUnavailable    = "service_unavailable_error"
	typeTimeout        = "timeout_error"
)

// apiError is an error answered in OpenAI's shape:
// {"error":{"message","type","param","code"}}.
type apiError struct {
	Status  int     `json:"-"`
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
	// RetryAfter, when positive, is sent as the Retry-After header (seconds).
	RetryAfter int `json:"-"`
}

func (e *apiError) Error() string {
	return fmt.Sprintf("gateway: %d %s: %s", e.Status, e.Type, e.Message)
}

func strp(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func badRequest(param, format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Type: typeInvalidRequest, Message: fmt.Sprintf(format, args...), Param: strp(param), Code: strp("invalid_value")}
}

func modelNotFound(model string) *apiError {
	return &apiError{Status: http.StatusNotFound, Type: typeInvalidRequest, Param: strp("model"), Code: strp("model_not_found"),
		Message: fmt.Sprintf("The model `%s` does not exist (this gateway serves one model; see GET /v1/models).", model)}
}

// fieldOf pulls the field name out of a schemas validation message
// ("…: GenerateRequest.sampling.top_p: …").
var fieldOf = regexp.MustCompile(`GenerateRequest\.([a-z_.]+):`)

// openAIParam names a GenerateRequest field as the OpenAI request does.
func openAIParam(field string) string {
	field = strings.TrimPrefix(field, "sampling.")
	return field
}

// fromPipeline maps an error of the producer client or the pipeline to the
// HTTP answer:
//
//	400 bad_request, 413 too_large     → 400 invalid_request_error
//	401 unauthorized                    → 401
//	404 not_found                       → 404
//	408 timeout, stream idle            → 504 timeout_error
//	429 overloaded                      → 429 rate_limit_error (Retry-After)
//	503 no_worker                       → 503 (Retry-After)
//	504 worker_lost, gap, slow consumer → 502 server_error (retry)
//	anything else                       → 500 server_error
func fromPipeline(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var e *schemas.Error
	if errors.As(err, &e) {
		code := strp(e.Code.String())
		switch e.Code {
		case schemas.CodeBadRequest, schemas.CodeTooLarge:
			out := &apiError{Status: http.StatusBadRequest, Type: typeInvalidRequest, Message: e.Message, Code: code}
			if e.Code == schemas.CodeTooLarge {
				out.Code = strp("context_length_exceeded")
			}
			if m := fieldOf.FindStringSubmatch(e.Message); m != nil {
				out.Param = strp(openAIParam(m[1]))
			}
			return out
		case schemas.CodeUnauthorized:
			return &apiError{Status: http.StatusUnauthorized, Type: typeAuthentication, Message: e.Message, Code: code}
		case schemas.CodeNotFound:
			return &apiError{Status: http.StatusNotFound, Type: typeNotFound, Message: e.Message, Code: code}
		case schemas.CodeTimeout:
			return &apiError{Status: http.StatusGatewayTimeout, Type: typeTimeout, Message: e.Message, Code: code}
		case schemas.CodeOverloaded:
			return &apiError{Status: http.StatusTooManyRequests, Type: typeRateLimit, Message: e.Message, Code: code, RetryAfter: 1}
		case schemas.CodeNoWorker:
			return &apiError{Status: http.StatusServiceUnavailable, Type: typeUnavailable, Message: e.Message, Code: code, RetryAfter: 1}
		case schemas.CodeWorkerLost:
			return &apiError{Status: http.StatusBadGateway, Type: typeServer, Message: e.Message, Code: code}
		}
		return &apiError{Status: http.StatusInternalServerError, Type: typeServer, Message: e.Message, Code: code}
	}
	switch {
	case errors.Is(err, bus.ErrIdle):
		return &apiError{Status: http.StatusGatewayTimeout, Type: typeTimeout, Message: err.Error(), Code: strp("timeout")}
	case errors.Is(err, bus.ErrGap), errors.Is(err, bus.ErrSlowConsumer):
		return &apiError{Status: http.StatusBadGateway, Type: typeServer, Message: err.Error(), Code: strp("stream_incomplete")}
	case errors.Is(err, schemas.ErrInvalid), errors.Is(err, schemas.ErrVersion):
		out := &apiError{Status: http.StatusBadRequest, Type: typeInvalidRequest, Message: err.Error(), Code: strp("invalid_value")}
		if m := fieldOf.FindStringSubmatch(err.Error()); m != nil {
			out.Param = strp(openAIParam(m[1]))
		}
		return out
	}
	return &apiError{Status: http.StatusInternalServerError, Type: typeServer, Message: err.Error(), Code: strp("internal")}
}

// writeError answers e as JSON with its status.
func writeError(w http.ResponseWriter, e *apiError) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if e.RetryAfter > 0 {
		h.Set("Retry-After", fmt.Sprint(e.RetryAfter))
	}
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(errorBody{Error: e})
}

type errorBody struct {
	Error *apiError `json:"error"`
}
