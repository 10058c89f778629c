package bus

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// pki is a throw-away certificate authority with server and client
// certificates, written as PEM files.
type pki struct {
	dir                string
	ca                 *x509.Certificate
	caKey              *ecdsa.PrivateKey
	caFile             string
	serverCert, server string // PEM file paths: certificate, key
	clientCert, client string
}

func newPKI(t *testing.T, name string) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir()}
	p.caKey = newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name + " test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &p.caKey.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	if p.ca, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	p.caFile = writePEM(t, p.dir, "ca.pem", "CERTIFICATE", der)
	p.serverCert, p.server = p.issue(t, "server", &x509.Certificate{
		Subject:     pkix.Name{CommonName: "krserve-nats"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	p.clientCert, p.client = p.issue(t, "client", &x509.Certificate{
		Subject:     pkix.Name{CommonName: "engine"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	return p
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// issue signs tmpl with the CA and writes <name>.pem and <name>-key.pem.
func (p *pki) issue(t *testing.T, name string, tmpl *x509.Certificate) (certFile, keyFile string) {
	t.Helper()
	key := newKey(t)
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, p.dir, name+".pem", "CERTIFICATE", der), writePEM(t, p.dir, name+"-key.pem", "PRIVATE KEY", kder)
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startTLSServer starts nats-server on loopback with TLS from p; verify
// requires client certificates signed by p's CA (mutual TLS).
func startTLSServer(t *testing.T, p *pki, verify bool) *server.Server {
	t.Helper()
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: p.serverCert, KeyFile: p.server, CaFile: p.caFile, Verify: verify})
	if err != nil {
		t.Fatal(err)
	}
	opts := &server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true, NoLog: true,
		TLS: true, TLSVerify: verify, TLSConfig: tc, TLSTimeout: waitFor.Seconds()}
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(waitFor) {
		ns.Shutdown()
		t.Fatal("TLS nats-server not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns
}

// TestTLSConnect proves that bus.Connect verifies the server against the
// configured CA and presents a client certificate when mutual TLS is on.
func TestTLSConnect(t *testing.T) {
	good, other := newPKI(t, "krserve"), newPKI(t, "other")
	plain := startTLSServer(t, good, false)
	mutual := startTLSServer(t, good, true)
	url := func(ns *server.Server) string {
		return fmt.Sprintf("tls://127.0.0.1:%d", ns.Addr().(*net.TCPAddr).Port)
	}
	unknownCA := func(t *testing.T, err error) {
		var ua x509.UnknownAuthorityError
		if !errors.Is(err, nats.ErrTLS) || !errors.As(err, &ua) {
			t.Fatalf("got %v, want %v caused by an unknown authority", err, nats.ErrTLS)
		}
	}
	refused := func(t *testing.T, err error) {
		if err == nil {
			t.Fatal("connected, want the server to refuse the client")
		}
	}
	for _, c := range []struct {
		name  string
		ns    *server.Server
		cfg   ConnConfig
		check func(*testing.T, error) // nil: must connect
	}{
		{"server TLS with the CA", plain, ConnConfig{TLSCA: good.caFile}, nil},
		{"server TLS without a CA", plain, ConnConfig{}, unknownCA},
		{"server TLS with another CA", plain, ConnConfig{TLSCA: other.caFile}, unknownCA},
		{"mutual TLS with a client certificate", mutual, ConnConfig{TLSCA: good.caFile, TLSCert: good.clientCert, TLSKey: good.client}, nil},
		{"mutual TLS without a client certificate", mutual, ConnConfig{TLSCA: good.caFile}, refused},
		{"mutual TLS with a certificate of another CA", mutual, ConnConfig{TLSCA: good.caFile, TLSCert: other.clientCert, TLSKey: other.client}, refused},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := c.cfg
			cfg.URL, cfg.Timeout = url(c.ns), waitFor
			nc, err := Connect(cfg, "krserve-tls-test", ConnDeps{}, nats.MaxReconnects(0))
			if c.check != nil {
				if err == nil {
					nc.Close()
				}
				c.check(t, err)
				return
			}
			if err != nil {
				t.Fatalf("connect: %v", err)
			}
			defer nc.Close()
			st, err := nc.TLSConnectionState()
			if err != nil || !st.HandshakeComplete || st.PeerCertificates[0].Subject.CommonName != "krserve-nats" {
				t.Fatalf("TLS state %+v, %v", st, err)
			}
			// The connection carries traffic, not only a handshake.
			sub, err := nc.SubscribeSync("krserve.v1.tls")
			if err != nil {
				t.Fatal(err)
			}
			if err := nc.Publish("krserve.v1.tls", []byte("x")); err != nil {
				t.Fatal(err)
			}
			if m := nextMsg(t, sub); string(m.Data) != "x" {
				t.Fatalf("got %q", m.Data)
			}
			if c.ns == mutual {
				cz, err := c.ns.Connz(&server.ConnzOptions{Username: true})
				if err != nil || len(cz.Conns) != 1 || cz.Conns[0].TLSPeerCerts == nil || cz.Conns[0].TLSPeerCerts[0].Subject != "CN=engine" {
					t.Fatalf("server does not see the client certificate: %+v, %v", cz, err)
				}
			}
		})
	}
}
