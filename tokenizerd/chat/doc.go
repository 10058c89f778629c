// Package chat renders chat messages into prompt text with a model's chat
// template: Llama 2 ([INST]), Llama 3 (header ids) and ChatML (<|im_start|>).
// The template is chosen by name or detected from a GGUF file's
// tokenizer.chat_template (a Jinja source, which is recognised by its
// markers, not executed).
//
// History stays stable: rendering messages[:k] followed by the assistant's
// reply and end marker is byte-for-byte a prefix of rendering messages[:k+1],
// so every earlier turn's tokens, and hence its KV blocks, are reused by the
// next turn (templates that rewrite earlier turns break prefix caching).
// The rendered text contains special-token markers; encode it with special
// tokens enabled and without an extra BOS when the template emits one.
//
// Templates are immutable values, safe for concurrent use.
package chat
