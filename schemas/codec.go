package schemas

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

// Version is the major version of the wire contract. Messages carry it in
// the "v" field.
const Version = 1

var (
	// ErrInvalid means a message is malformed: not msgpack, a field of the
	// wrong type, or a required field missing or out of range. The sender must
	// fix the message; resending it unchanged fails again.
	ErrInvalid = errors.New("schemas: invalid message")
	// ErrVersion means the message was written for another major version of
	// the contract.
	ErrVersion = errors.New("schemas: unsupported version")
)

// Message is implemented by every wire message.
type Message interface {
	// Validate reports a missing or out-of-range required field, wrapping ErrInvalid.
	Validate() error
	version() int
}

var encPool = sync.Pool{New: func() any {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	enc.UseCompactFloats(false)
	return &encoder{buf: &buf, enc: enc}
}}

type encoder struct {
	buf *bytes.Buffer
	enc *msgpack.Encoder
}

// Encode validates m and returns its msgpack bytes.
func Encode(m Message) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	e := encPool.Get().(*encoder)
	defer encPool.Put(e)
	e.buf.Reset()
	if err := e.enc.Encode(m); err != nil {
		return nil, fmt.Errorf("schemas: encode %T: %w", m, err)
	}
	return bytes.Clone(e.buf.Bytes()), nil
}

// Decode parses msgpack bytes into m and validates the result. Unknown
// fields are ignored.
func Decode(b []byte, m Message) error {
	if len(b) == 0 {
		return fmt.Errorf("%w: empty payload", ErrInvalid)
	}
	dec := msgpack.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(m); err != nil {
		return fmt.Errorf("%w: %T: %v", ErrInvalid, m, err)
	}
	if v := m.version(); v != Version {
		return fmt.Errorf("%w: %T has v=%d, this decoder reads v=%d", ErrVersion, m, v, Version)
	}
	return m.Validate()
}

func invalid(msg string, field string, format string, args ...any) error {
	return fmt.Errorf("%w: %s.%s: %s", ErrInvalid, msg, field, fmt.Sprintf(format, args...))
}
