package deploy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"go.yaml.in/yaml/v3"
)

// The parts of Kubernetes objects the tests read.
type (
	k8sObject struct {
		APIVersion string            `yaml:"apiVersion"`
		Kind       string            `yaml:"kind"`
		Metadata   k8sMeta           `yaml:"metadata"`
		Data       map[string]string `yaml:"data"`
		Spec       k8sSpec           `yaml:"spec"`
		Resources  []string          `yaml:"resources"` // Kustomization
	}
	k8sMeta struct {
		Name      string            `yaml:"name"`
		Namespace string            `yaml:"namespace"`
		Labels    map[string]string `yaml:"labels"`
	}
	k8sSpec struct {
		Replicas *int `yaml:"replicas"`
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata k8sMeta `yaml:"metadata"`
			Spec     struct {
				TerminationGracePeriodSeconds int            `yaml:"terminationGracePeriodSeconds"`
				Containers                    []k8sContainer `yaml:"containers"`
				Volumes                       []struct {
					Name      string `yaml:"name"`
					ConfigMap *struct {
						Name string `yaml:"name"`
					} `yaml:"configMap"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	}
	k8sContainer struct {
		Name    string   `yaml:"name"`
		Image   string   `yaml:"image"`
		Command []string `yaml:"command"`
		Args    []string `yaml:"args"`
		EnvFrom []struct {
			ConfigMapRef struct {
				Name string `yaml:"name"`
			} `yaml:"configMapRef"`
		} `yaml:"envFrom"`
		Env []struct {
			Name      string `yaml:"name"`
			Value     string `yaml:"value"`
			ValueFrom *struct {
				SecretKeyRef *struct {
					Name string `yaml:"name"`
					Key  string `yaml:"key"`
				} `yaml:"secretKeyRef"`
				FieldRef *struct {
					FieldPath string `yaml:"fieldPath"`
				} `yaml:"fieldRef"`
			} `yaml:"valueFrom"`
		} `yaml:"env"`
		ReadinessProbe *k8sProbe `yaml:"readinessProbe"`
		LivenessProbe  *k8sProbe `yaml:"livenessProbe"`
		Lifecycle      struct {
			PreStop *struct {
				Exec *struct {
					Command []string `yaml:"command"`
				} `yaml:"exec"`
			} `yaml:"preStop"`
		} `yaml:"lifecycle"`
		Resources struct {
			Requests map[string]string `yaml:"requests"`
			Limits   map[string]string `yaml:"limits"`
		} `yaml:"resources"`
		VolumeMounts []struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
		} `yaml:"volumeMounts"`
	}
	k8sProbe struct {
		HTTPGet *struct {
			Path string `yaml:"path"`
			Port any    `yaml:"port"`
		} `yaml:"httpGet"`
	}
)

// k8sObjects decodes every document of every YAML file in k8s/.
func k8sObjects(t *testing.T) (map[string][]k8sObject, []string) {
	t.Helper()
	files, err := filepath.Glob("k8s/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	out := map[string][]k8sObject{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(false)
		for i := 0; ; i++ {
			var o k8sObject
			err := dec.Decode(&o)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s document %d: %v", f, i, err)
			}
			if o.APIVersion == "" || o.Kind == "" {
				t.Errorf("%s document %d: apiVersion %q kind %q", f, i, o.APIVersion, o.Kind)
			}
			if o.Kind != "Kustomization" && (o.Metadata.Name == "" || o.Kind != "Namespace" && o.Metadata.Namespace != "krserve") {
				t.Errorf("%s: %s %q must be named and in namespace krserve", f, o.Kind, o.Metadata.Name)
			}
			out[o.Kind] = append(out[o.Kind], o)
		}
	}
	return out, files
}

func byName(objs []k8sObject, name string) *k8sObject {
	for i := range objs {
		if objs[i].Metadata.Name == name {
			return &objs[i]
		}
	}
	return nil
}

func probe(t *testing.T, where string, p *k8sProbe, wantPath string, wantPort int) {
	t.Helper()
	if p == nil || p.HTTPGet == nil {
		t.Errorf("%s: no HTTP probe, want GET %s on port %d", where, wantPath, wantPort)
		return
	}
	if p.HTTPGet.Path != wantPath || p.HTTPGet.Port != wantPort {
		t.Errorf("%s: probe GET %s on port %v, want GET %s on port %d", where, p.HTTPGet.Path, p.HTTPGet.Port, wantPath, wantPort)
	}
}

func TestKubernetesManifests(t *testing.T) {
	objs, files := k8sObjects(t)
	var kinds []string
	for k, list := range objs {
		for range list {
			kinds = append(kinds, k)
		}
	}
	sort.Strings(kinds)
	want := []string{"ConfigMap", "ConfigMap", "ConfigMap", "Deployment", "Deployment", "Deployment", "Kustomization",
		"Namespace", "PodDisruptionBudget", "PodDisruptionBudget", "Service", "Service", "StatefulSet"}
	if !slices.Equal(kinds, want) {
		t.Errorf("kinds %v, want %v", kinds, want)
	}

	// The kustomization applies every manifest.
	var listed []string
	for _, o := range objs["Kustomization"] {
		listed = append(listed, o.Resources...)
	}
	for _, f := range files {
		if base := filepath.Base(f); base != "kustomization.yaml" && !slices.Contains(listed, base) {
			t.Errorf("kustomization.yaml does not list %s", base)
		}
	}

	// The runtime flags are config/runtime.yaml, byte for byte.
	shipped, err := os.ReadFile("../config/runtime.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rt := byName(objs["ConfigMap"], "krserve-runtime")
	if rt == nil || rt.Data["runtime.yaml"] != string(shipped) {
		t.Error("ConfigMap krserve-runtime: runtime.yaml differs from config/runtime.yaml")
	}
	envCM := byName(objs["ConfigMap"], "krserve-env")
	if envCM == nil {
		t.Fatal("no ConfigMap krserve-env")
	}
	users := natsUsers(t)
	for _, role := range []string{"tokenizerd", "engined", "controller"} {
		d := byName(objs["Deployment"], role)
		if d == nil {
			t.Errorf("no Deployment %s", role)
			continue
		}
		where := "Deployment " + role
		ps := d.Spec.Template.Spec
		for k, v := range d.Spec.Selector.MatchLabels {
			if d.Spec.Template.Metadata.Labels[k] != v {
				t.Errorf("%s: selector %s=%s does not match the pod labels", where, k, v)
			}
		}
		if len(ps.Containers) != 1 {
			t.Fatalf("%s: %d containers", where, len(ps.Containers))
		}
		c := ps.Containers[0]
		if !slices.Equal(c.Command, []string{"/usr/local/bin/krserve"}) || !slices.Equal(c.Args, []string{role}) {
			t.Errorf("%s: runs %v %v, want /usr/local/bin/krserve %s", where, c.Command, c.Args, role)
		}
		probe(t, where+" readiness", c.ReadinessProbe, "/readyz", 9464)
		probe(t, where+" liveness", c.LivenessProbe, "/healthz", 9464)
		if c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Exec == nil || len(c.Lifecycle.PreStop.Exec.Command) == 0 {
			t.Errorf("%s: no preStop drain hook", where)
		}
		for _, r := range []string{"cpu", "memory"} {
			if c.Resources.Requests[r] == "" || c.Resources.Limits[r] == "" {
				t.Errorf("%s: resources %s need a request and a limit", where, r)
			}
		}
		// The process environment: the ConfigMap plus literal values.
		if len(c.EnvFrom) != 1 || c.EnvFrom[0].ConfigMapRef.Name != "krserve-env" {
			t.Errorf("%s: envFrom %+v, want the krserve-env ConfigMap", where, c.EnvFrom)
		}
		env := map[string]string{}
		for k, v := range envCM.Data {
			env[k] = v
		}
		secretKey := ""
		for _, e := range c.Env {
			switch {
			case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
				if e.Name != "KRSERVE_NATS_PASSWORD" {
					t.Errorf("%s: unexpected secret %s", where, e.Name)
				}
				secretKey = e.ValueFrom.SecretKeyRef.Key
				env[e.Name] = "from-secret"
			case e.ValueFrom != nil:
				env[e.Name] = "from-field"
			default:
				env[e.Name] = e.Value
			}
		}
		if env["KRSERVE_MODEL"] == "" {
			delete(env, "KRSERVE_MODEL") // an empty value means the default model
		}
		ev := checkEnv(t, where, env)
		if !users[ev.NATS.User] || secretKey != ev.NATS.User {
			t.Errorf("%s: NATS user %q with secret key %q, want a user of permissions.conf and its own key", where, ev.NATS.User, secretKey)
		}
		if host, port, _ := net.SplitHostPort(ev.MetricsAddr); host != "0.0.0.0" || port != "9464" {
			t.Errorf("%s: KRSERVE_METRICS_ADDR %q: probes need 0.0.0.0:9464", where, ev.MetricsAddr)
		}
		if grace := time.Duration(ps.TerminationGracePeriodSeconds) * time.Second; grace < ev.DrainTimeout+10*time.Second {
			t.Errorf("%s: terminationGracePeriodSeconds %v must exceed the drain timeout %v by 10s", where, grace, ev.DrainTimeout)
		}
		mounted := false
		for _, m := range c.VolumeMounts {
			for _, v := range ps.Volumes {
				if v.Name == m.Name && v.ConfigMap != nil && v.ConfigMap.Name == "krserve-runtime" && m.MountPath == path.Dir(ev.RuntimeFile) {
					mounted = true
				}
			}
		}
		if !mounted {
			t.Errorf("%s: krserve-runtime is not mounted where KRSERVE_RUNTIME_CONFIG=%s points", where, ev.RuntimeFile)
		}
	}
}

// TestKubernetesNATS checks the NATS StatefulSet: its config parses, its
// permissions are deploy/nats/permissions.conf, and its image matches the
// nats-server version the code is tested against.
func TestKubernetesNATS(t *testing.T) {
	objs, _ := k8sObjects(t)
	cm := byName(objs["ConfigMap"], "nats-config")
	sts := byName(objs["StatefulSet"], "nats")
	if cm == nil || sts == nil {
		t.Fatal("no nats-config ConfigMap or nats StatefulSet")
	}
	perm, err := os.ReadFile("nats/permissions.conf")
	if err != nil {
		t.Fatal(err)
	}
	if cm.Data["permissions.conf"] != string(perm) {
		t.Error("nats-config permissions.conf differs from deploy/nats/permissions.conf")
	}
	dir := t.TempDir()
	for _, name := range []string{"nats.conf", "permissions.conf"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(cm.Data[name]), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := sts.Spec.Template.Spec.Containers[0]
	for _, e := range c.Env {
		t.Setenv(e.Name, "value-of-"+e.Name)
	}
	t.Setenv("POD_NAME", "nats-1")
	opts, err := server.ProcessConfigFile(filepath.Join(dir, "nats.conf"))
	if err != nil {
		t.Fatalf("nats.conf: %v", err)
	}
	if opts.ServerName != "nats-1" || !opts.JetStream || opts.Cluster.Name != "krserve" || len(opts.Routes) != 3 {
		t.Errorf("nats.conf: server %q, JetStream %v, cluster %q with %d routes", opts.ServerName, opts.JetStream, opts.Cluster.Name, len(opts.Routes))
	}
	if sts.Spec.Replicas == nil || *sts.Spec.Replicas != 3 {
		t.Errorf("StatefulSet nats: replicas %v, want 3", sts.Spec.Replicas)
	}
	gomod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`github.com/nats-io/nats-server/v2 v(\S+)`).FindSubmatch(gomod)
	if m == nil || !strings.HasPrefix(c.Image, "nats:"+string(m[1])) {
		t.Errorf("StatefulSet nats: image %s, want nats:%s (go.mod)", c.Image, m[1])
	}
	probe(t, "nats readiness", c.ReadinessProbe, "/healthz?js-enabled-only=true", 8222)
	if c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Exec == nil || !slices.Contains(c.Lifecycle.PreStop.Exec.Command, "ldm=/var/run/nats/nats.pid") {
		t.Error("StatefulSet nats: preStop must put the server in lame-duck mode")
	}
}
