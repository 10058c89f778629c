package chat

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/krserve/krserve/schemas"
)

var convo = []schemas.ChatMessage{
	{Role: "system", Content: "You are terse."},
	{Role: "user", Content: "Hi there"},
	{Role: "assistant", Content: "Hello."},
	{Role: "user", Content: "Tell me a story"},
}

func TestGolden(t *testing.T) {
	for _, name := range []string{"chatml", "llama2", "llama3"} {
		t.Run(name, func(t *testing.T) {
			tpl, err := ByName(name)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tpl.Render(convo)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", name+".txt")
			if os.Getenv("KRSERVE_UPDATE_GOLDEN") != "" {
				_ = os.WriteFile(path, []byte(got), 0o644)
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("-got\n%s\n+want\n%s", got, want)
			}
		})
	}
}

// TestHistoryIsStable: turn k's prompt plus the reply and end marker is a
// prefix of turn k+1's prompt, so earlier turns' KV blocks are reusable.
func TestHistoryIsStable(t *testing.T) {
	for _, name := range []string{"chatml", "llama2", "llama3"} {
		tpl, _ := ByName(name)
		for k := 2; k <= len(convo); k += 2 {
			prev, err := tpl.Render(convo[:k])
			if err != nil {
				t.Fatal(err)
			}
			reply := " reply number " + name
			withReply := append(append([]schemas.ChatMessage{}, convo[:k]...), schemas.ChatMessage{Role: "assistant", Content: reply})
			next, err := tpl.Render(append(withReply, schemas.ChatMessage{Role: "user", Content: "more"}))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(next, prev) {
				t.Errorf("%s: turn %d prompt is not a prefix of the next turn:\n%q\n%q", name, k, prev, next)
			}
		}
	}
}

func TestDetectAndErrors(t *testing.T) {
	for src, want := range map[string]string{
		"{% for m in messages %}<|im_start|>{{ m.role }}":         "chatml",
		"{{ bos_token }}[INST] {{ m.content }} [/INST]":           "llama2",
		"<|start_header_id|>{{ m.role }}<|end_header_id|>\n\n...": "llama3",
	} {
		tpl, err := Detect(src)
		if err != nil || tpl.Name() != want {
			t.Errorf("Detect(%q) = %v, %v; want %s", src, tpl, err, want)
		}
	}
	if _, err := Detect("{{ something }}"); !errors.Is(err, ErrUnknownTemplate) {
		t.Errorf("unknown source: %v", err)
	}
	if _, err := ByName("vicuna"); !errors.Is(err, ErrUnknownTemplate) {
		t.Errorf("unknown name: %v", err)
	}
	l2, _ := ByName("llama2")
	if _, err := l2.Render([]schemas.ChatMessage{{Role: "assistant", Content: "x"}}); !errors.Is(err, ErrBadMessages) {
		t.Errorf("llama2 assistant first: %v", err)
	}
	if _, err := l2.Render(nil); !errors.Is(err, ErrBadMessages) {
		t.Errorf("no messages: %v", err)
	}
}
