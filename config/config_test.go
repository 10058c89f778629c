package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestShippedRuntimeFileIsValidAndDefault(t *testing.T) {
	rt, err := LoadRuntime("runtime.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if rt != DefaultRuntime() {
		t.Errorf("config/runtime.yaml differs from DefaultRuntime():\n file %+v\n code %+v", rt, DefaultRuntime())
	}
}

func TestParseRuntimeErrors(t *testing.T) {
	tests := []struct {
		name, yaml, wantKey string
	}{
		{"unknown key", "cpu_optimizations:\n  parallel_tokenizer:\n    enabeld: true\n", "enabeld"},
		{"negative threads", "cpu_optimizations:\n  parallel_tokenizer:\n    num_threads: -2\n", "parallel_tokenizer.num_threads = -2"},
		{"zero pool", "cpu_optimizations:\n  parallel_tokenizer:\n    thread_pool_size: 0\n", "thread_pool_size = 0"},
		{"wrong type", "cpu_optimizations:\n  kv_cache_pool:\n    memory_limit_mb: lots\n", "lots"},
		{"zero memory", "cpu_optimizations:\n  kv_cache_pool:\n    memory_limit_mb: 0\n", "kv_cache_pool.memory_limit_mb = 0"},
		{"block not pow2", "cpu_optimizations:\n  kv_cache_pool:\n    block_size: 12\n", "block_size = 12"},
		{"prefix without pool", "cpu_optimizations:\n  kv_cache_pool:\n    enabled: false\n", "prefix_matching = true"},
		{"max sequences", "cpu_optimizations:\n  kv_cache_pool:\n    max_sequences: 0\n", "max_sequences = 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseRuntime([]byte(tt.yaml))
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.wantKey) {
				t.Errorf("error %q does not name %q", err, tt.wantKey)
			}
		})
	}
}

func TestParseRuntimeOverridesDefaults(t *testing.T) {
	rt, err := ParseRuntime([]byte("cpu_optimizations:\n  kv_cache_pool:\n    enabled: false\n    prefix_matching: false\n"))
	if err != nil {
		t.Fatal(err)
	}
	if rt.CPU.KVCachePool.Enabled || rt.CPU.KVCachePool.MemoryLimitMB != 256 || !rt.CPU.ParallelTokenizer.Enabled {
		t.Errorf("overrides not applied over defaults: %+v", rt)
	}
	if _, err := ParseRuntime(nil); err != nil {
		t.Errorf("empty file: %v", err)
	}
}

func TestLoadEnv(t *testing.T) {
	e, err := LoadEnv(map[string]string{"KRSERVE_NATS_URL": "nats://h:4222", "KRSERVE_VARIANT": "canary", "KRSERVE_DRAIN_TIMEOUT": "5s", "KRSERVE_THREADS": "2"})
	if err != nil {
		t.Fatal(err)
	}
	if e.NATS.URL != "nats://h:4222" || e.Variant != "canary" || e.DrainTimeout != 5*time.Second || e.Threads != 2 || e.SubjectPrefix != "krserve" {
		t.Errorf("env = %+v", e)
	}
	for name, env := range map[string]map[string]string{
		"bad level":    {"KRSERVE_LOG_LEVEL": "loud"},
		"bad variant":  {"KRSERVE_VARIANT": "Can.ary"},
		"bad prefix":   {"KRSERVE_SUBJECT_PREFIX": "a.*"},
		"bad duration": {"KRSERVE_DRAIN_TIMEOUT": "soon"},
		"bad threads":  {"KRSERVE_THREADS": "-1"},
	} {
		if _, err := LoadEnv(env); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}
