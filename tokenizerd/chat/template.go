package chat

import (
	"errors"
	"fmt"
	"strings"

	"github.com/krserve/krserve/schemas"
)

// ErrUnknownTemplate means a template name or source is not one this package renders.
var ErrUnknownTemplate = errors.New("chat: unknown chat template")

// ErrBadMessages means the messages cannot be rendered (empty, or a role the
// template has no place for). The request must be fixed.
var ErrBadMessages = errors.New("chat: messages cannot be rendered")

// Template renders chat messages.
type Template struct {
	name string
	// EmitsBOS says the rendered text starts with the BOS marker, so the
	// encoder must not add another.
	EmitsBOS bool
	render   func(msgs []schemas.ChatMessage, b *strings.Builder) error
	gen      string // generation prompt appended after the last message
}

// Name is the template's name ("llama2", "llama3", "chatml").
func (t *Template) Name() string { return t.name }

// Render returns the prompt text for msgs followed by the generation prompt
// (the start of the assistant's turn).
func (t *Template) Render(msgs []schemas.ChatMessage) (string, error) {
	if len(msgs) == 0 {
		return "", fmt.Errorf("%w: no messages", ErrBadMessages)
	}
	var b strings.Builder
	if err := t.render(msgs, &b); err != nil {
		return "", err
	}
	if msgs[len(msgs)-1].Role != "assistant" {
		b.WriteString(t.gen)
	}
	return b.String(), nil
}

// EndOfTurn is the text the template puts after an assistant reply.
func (t *Template) EndOfTurn() string {
	switch t.name {
	case "llama2":
		return " </s>"
	case "llama3":
		return "<|eot_id|>"
	default:
		return "<|im_end|>\n"
	}
}

var templates = map[string]*Template{
	"chatml": {name: "chatml", render: renderChatML, gen: "<|im_start|>assistant\n"},
	"llama3": {name: "llama3", EmitsBOS: true, render: renderLlama3, gen: "<|start_header_id|>assistant<|end_header_id|>\n\n"},
	"llama2": {name: "llama2", EmitsBOS: true, render: renderLlama2},
}

// ByName returns a built-in template.
func ByName(name string) (*Template, error) {
	t, ok := templates[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q (have chatml, llama2, llama3)", ErrUnknownTemplate, name)
	}
	return t, nil
}

// Detect recognises a Jinja chat template source by its markers.
func Detect(source string) (*Template, error) {
	switch {
	case strings.Contains(source, "<|start_header_id|>"):
		return templates["llama3"], nil
	case strings.Contains(source, "<|im_start|>"):
		return templates["chatml"], nil
	case strings.Contains(source, "[INST]"):
		return templates["llama2"], nil
	}
	return nil, fmt.Errorf("%w: source does not match chatml, llama2 or llama3", ErrUnknownTemplate)
}

func renderChatML(msgs []schemas.ChatMessage, b *strings.Builder) error {
	for _, m := range msgs {
		b.WriteString("<|im_start|>")
		b.WriteString(m.Role)
		b.WriteString("\n")
		b.WriteString(m.Content)
		b.WriteString("<|im_end|>\n")
	}
	return nil
}

func renderLlama3(msgs []schemas.ChatMessage, b *strings.Builder) error {
	b.WriteString("<|begin_of_text|>")
	for _, m := range msgs {
		role := m.Role
		if role == "tool" {
			role = "ipython"
		}
		b.WriteString("<|start_header_id|>")
		b.WriteString(role)
		b.WriteString("<|end_header_id|>\n\n")
		b.WriteString(strings.TrimSpace(m.Content))
		b.WriteString("<|eot_id|>")
	}
	return nil
}

// renderLlama2 follows Meta's format: a system prompt is folded into the
// first user turn, user and assistant alternate, and each exchange is
// wrapped in <s>…</s>.
func renderLlama2(msgs []schemas.ChatMessage, b *strings.Builder) error {
	sys := ""
	if msgs[0].Role == "system" {
		sys = msgs[0].Content
		msgs = msgs[1:]
	}
	for i, m := range msgs {
		want := "user"
		if i%2 == 1 {
			want = "assistant"
		}
		if m.Role != want {
			return fmt.Errorf("%w: llama2 needs alternating user/assistant turns after an optional system message; message %d is %q", ErrBadMessages, i, m.Role)
		}
		if m.Role == "user" {
			b.WriteString("<s>[INST] ")
			if i == 0 && sys != "" {
				b.WriteString("<<SYS>>\n")
				b.WriteString(sys)
				b.WriteString("\n<</SYS>>\n\n")
			}
			b.WriteString(strings.TrimSpace(m.Content))
			b.WriteString(" [/INST]")
		} else {
			b.WriteString(" ")
			b.WriteString(strings.TrimSpace(m.Content))
			b.WriteString(" </s>")
		}
	}
	if len(msgs) == 0 {
		return fmt.Errorf("%w: llama2 needs a user message", ErrBadMessages)
	}
	return nil
}
