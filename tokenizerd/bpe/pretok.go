package bpe

import "fmt"

// Pretokenizer names the rule that splits text into pieces before BPE.
// The names follow llama.cpp's tokenizer.ggml.pre groups; cl100k and o200k
// are the tiktoken patterns.
type Pretokenizer string

// Pre-tokenizers implemented by this package.
const (
	PreGPT2          Pretokenizer = "gpt2"           // GPT-2 byte-level regex (also mpt, olmo, phi-2, jais, ...)
	PreMPT           Pretokenizer = "mpt"            // same split as gpt2
	PreDefault       Pretokenizer = "default"        // llama.cpp's default BPE split
	PreLlama3        Pretokenizer = "llama3"         // Llama 3 (llama-bpe)
	PreCL100K        Pretokenizer = "cl100k"         // tiktoken cl100k_base
	PreO200K         Pretokenizer = "o200k"          // tiktoken o200k_base, GPT-4o
	PreQwen2         Pretokenizer = "qwen2"          // Qwen2 (single digits)
	PreDeepseekLLM   Pretokenizer = "deepseek-llm"   // DeepSeek LLM
	PreDeepseekCoder Pretokenizer = "deepseek-coder" // DeepSeek Coder
	PreFalcon        Pretokenizer = "falcon"         // Falcon
	PreStarcoder     Pretokenizer = "starcoder"      // StarCoder (single digits, then gpt2)
	PreRefact        Pretokenizer = "refact"         // same split as starcoder
)

// ggufPre maps tokenizer.ggml.pre values to pre-tokenizers, as llama.cpp
// does (src/llama-vocab.cpp).
var ggufPre = map[string]Pretokenizer{
	"default":  PreDefault,
	"gpt-2":    PreGPT2,
	"phi-2":    PreGPT2,
	"jina-es":  PreGPT2,
	"jina-de":  PreGPT2,
	"gigachat": PreGPT2,
	"olmo":     PreGPT2,
	"jais":     PreGPT2,
	"mpt":      PreMPT,

	"llama3":    PreLlama3,
	"llama-v3":  PreLlama3,
	"llama-bpe": PreLlama3,
	"falcon3":   PreLlama3,
	"dbrx":      PreLlama3,
	"smaug-bpe": PreLlama3,

	"qwen2":            PreQwen2,
	"deepseek-r1-qwen": PreQwen2,
	"stablelm2":        PreQwen2,

	"gpt-4o": PreO200K,

	"deepseek-llm":   PreDeepseekLLM,
	"deepseek-coder": PreDeepseekCoder,
	"falcon":         PreFalcon,
	"starcoder":      PreStarcoder,
	"refact":         PreRefact,
	"command-r":      PreStarcoder,
	"smollm":         PreStarcoder,
	"codeshell":      PreStarcoder,
	"exaone":         PreStarcoder,
	"minerva":        PreStarcoder,
}

// Anchored matchers for the multi-regex pre-tokenizers.

func crlfOne(s string, i int, _ []uint16) int {
	if s[i] == '\r' || s[i] == '\n' {
		return i + 1
	}
	return -1
}

// classPlus is X+.
func classPlus(mask uint16) matcher {
	return func(s string, i int, bmp []uint16) int {
		c, n := charAt(s, i, bmp)
		if c&mask == 0 {
			return -1
		}
		return run(s, i+n, mask, bmp)
	}
}

// classOne is X.
func classOne(mask uint16) matcher {
	return func(s string, i int, bmp []uint16) int {
		c, n := charAt(s, i, bmp)
		if c&mask == 0 {
			return -1
		}
		return i + n
	}
}

// wsOptClassPlus is \s?X+.
func wsOptClassPlus(mask uint16) matcher {
	return func(s string, i int, bmp []uint16) int {
		c, n := charAt(s, i, bmp)
		if c&cWS != 0 && i+n < len(s) {
			if c2, n2 := charAt(s, i+n, bmp); c2&mask != 0 {
				return run(s, i+n+n2, mask, bmp)
			}
		}
		if c&mask != 0 {
			return run(s, i+n, mask, bmp)
		}
		return -1
	}
}

// wsToEnd is \s+$ (end of the fragment).
func wsToEnd(s string, i int, bmp []uint16) int {
	c, n := charAt(s, i, bmp)
	if c&cWS == 0 {
		return -1
	}
	if e := run(s, i+n, cWS, bmp); e == len(s) {
		return e
	}
	return -1
}

// digits3 is [0-9][0-9][0-9].
func digits3(s string, i int, _ []uint16) int {
	if i+3 <= len(s) && isDigit(s[i]) && isDigit(s[i+1]) && isDigit(s[i+2]) {
		return i + 3
	}
	return -1
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

// stagesFor returns the regex stages of p: llama.cpp's regex_exprs list for
// the pre-tokenizer, each applied in turn to every fragment the previous one
// produced (matches and the text between them). longS selects Unicode case
// folding in (?i:...) contractions (tiktoken and Hugging Face semantics).
func stagesFor(p Pretokenizer, longS bool) ([]matcher, error) {
	switch p {
	case PreGPT2, PreMPT:
		return []matcher{matchGPT2}, nil
	case PreDefault:
		return []matcher{classPlus(cP | cFalconSym), matchGPT2, classPlus(cN), digits3}, nil
	case PreLlama3:
		return []matcher{llama3Matcher(3, longS)}, nil
	case PreCL100K:
		return []matcher{llama3Matcher(3, true)}, nil
	case PreQwen2:
		return []matcher{llama3Matcher(1, longS)}, nil
	case PreO200K:
		return []matcher{o200kMatcher(true)}, nil
	case PreDeepseekLLM:
		return []matcher{crlfOne, wsOptClassPlus(cDSLetter), wsOptClassPlus(cDSPunct), wsToEnd,
			classPlus(cDSHan), classPlus(cN)}, nil
	case PreDeepseekCoder:
		return []matcher{crlfOne, wsOptClassPlus(cL), wsOptClassPlus(cP), classPlus(cDSHan), classOne(cN)}, nil
	case PreFalcon:
		return []matcher{classPlus(cP | cFalconSym | cBacktick), matchGPT2, digits3}, nil
	case PreStarcoder, PreRefact:
		return []matcher{classOne(cN), matchGPT2}, nil
	}
	return nil, fmt.Errorf("%w: pre-tokenizer %q", ErrUnsupported, string(p))
}
