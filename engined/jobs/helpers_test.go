package jobs

import (
	"testing"

	"github.com/krserve/krserve/schemas"
	"github.com/vmihailenco/msgpack/v5"
)

func mustEncode(t testing.TB, m schemas.Message) []byte {
	t.Helper()
	b, err := schemas.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mustMsgpack encodes a value that need not be a valid message.
func mustMsgpack(t testing.TB, v any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
