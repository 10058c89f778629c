package deploy

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/krserve/krserve/config"
)

// knownEnv returns every KRSERVE_* variable config.Env reads.
func knownEnv() map[string]bool {
	out := map[string]bool{}
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for f := range t.Fields() {
			if p, ok := f.Tag.Lookup("envPrefix"); ok && f.Type.Kind() == reflect.Struct {
				walk(f.Type, prefix+p)
				continue
			}
			if name := f.Tag.Get("env"); name != "" {
				out[prefix+name] = true
			}
		}
	}
	walk(reflect.TypeFor[config.Env](), config.EnvPrefix)
	return out
}

// natsUsers returns the users deploy/nats/permissions.conf defines.
func natsUsers(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile("nats/permissions.conf")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, m := range regexp.MustCompile(`\{user = (\w+),`).FindAllSubmatch(b, -1) {
		out[string(m[1])] = true
	}
	if len(out) < 5 {
		t.Fatalf("permissions.conf defines users %v", out)
	}
	return out
}

// checkEnv validates a process environment: only variables config.Env
// knows, values that config.LoadEnv accepts.
func checkEnv(t *testing.T, where string, env map[string]string) config.Env {
	t.Helper()
	known := knownEnv()
	for k := range env {
		if !known[k] {
			t.Errorf("%s: %s is not a krserve setting (config.Env)", where, k)
		}
	}
	e, err := config.LoadEnv(env)
	if err != nil {
		t.Errorf("%s: %v", where, err)
	}
	return e
}

// unit is a parsed systemd unit: section → key → values in order.
type unit map[string]map[string][]string

func (u unit) one(section, key string) string {
	v := u[section][key]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

func parseUnit(b []byte) (unit, error) {
	u := unit{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
		case strings.HasSuffix(line, `\`):
			return nil, fmt.Errorf("line %d: continuation lines are not used here", n)
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" || strings.TrimSpace(k) == "" {
				return nil, fmt.Errorf("line %d: %q is not key=value inside a section", n, line)
			}
			k = strings.TrimSpace(k)
			u[section][k] = append(u[section][k], strings.TrimSpace(v))
		}
	}
	return u, sc.Err()
}

var unitRoles = []string{"tokenizerd", "engined", "controller", "gateway"}

func TestSystemdUnits(t *testing.T) {
	users := natsUsers(t)
	ports := map[string]string{}
	for _, role := range unitRoles {
		path := filepath.Join("systemd", "krserve-"+role+".service")
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		u, err := parseUnit(b)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		svc := u["Service"]
		want := map[string]string{
			"ExecStart":       "/usr/local/bin/krserve " + role,
			"KillSignal":      "SIGTERM",
			"Restart":         "on-failure",
			"NoNewPrivileges": "yes",
			"ProtectSystem":   "strict",
			"ProtectHome":     "yes",
			"PrivateTmp":      "yes",
			"DynamicUser":     "yes",
		}
		for k, v := range want {
			if got := u.one("Service", k); got != v {
				t.Errorf("%s: %s=%q, want %q", path, k, got, v)
			}
		}
		if u.one("Install", "WantedBy") == "" || u.one("Unit", "Description") == "" {
			t.Errorf("%s: needs Description and WantedBy", path)
		}
		env := map[string]string{}
		for _, a := range svc["Environment"] {
			k, v, ok := strings.Cut(a, "=")
			if !ok || strings.ContainsAny(v, " \"'") {
				t.Errorf("%s: Environment=%s: use one unquoted assignment per line", path, a)
			}
			env[k] = v
		}
		if _, ok := env["KRSERVE_NATS_PASSWORD"]; ok {
			t.Errorf("%s: the NATS password belongs in an EnvironmentFile, not the unit", path)
		}
		e := checkEnv(t, path, env)
		if !users[e.NATS.User] {
			t.Errorf("%s: KRSERVE_NATS_USER %q is not a user of deploy/nats/permissions.conf", path, e.NATS.User)
		}
		stop, err := time.ParseDuration(u.one("Service", "TimeoutStopSec"))
		if err != nil || stop < e.DrainTimeout+10*time.Second {
			t.Errorf("%s: TimeoutStopSec %v (%v) must exceed the drain timeout %v by 10s", path, stop, err, e.DrainTimeout)
		}
		_, port, err := net.SplitHostPort(e.MetricsAddr)
		if err != nil {
			t.Errorf("%s: KRSERVE_METRICS_ADDR %q: %v", path, e.MetricsAddr, err)
		}
		if other, dup := ports[port]; dup {
			t.Errorf("%s: metrics port %s also used by %s (units share a host)", path, port, other)
		}
		ports[port] = role
	}
}

// TestSystemdAnalyzeVerify runs systemd's own checker on each unit, with
// ExecStart pointed at a stand-in executable (verify requires it to exist).
func TestSystemdAnalyzeVerify(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed; TestSystemdUnits checked the units' syntax")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "krserve")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, role := range unitRoles {
		name := "krserve-" + role + ".service"
		b, err := os.ReadFile(filepath.Join("systemd", name))
		if err != nil {
			t.Fatal(err)
		}
		b = bytes.ReplaceAll(b, []byte("/usr/local/bin/krserve"), []byte(bin))
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(sa, "verify", path).CombinedOutput()
		// verify exits 0 on unknown keys and bad values: any output is a finding.
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", name, err, out)
		}
	}
}
