package configs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// withMetrics adds node.metrics_listen (line 11, value at column 18) and,
// when webConfig is set, node.metrics_web_config (line 12, column 22) to
// base.
func withMetrics(t *testing.T, listen, webConfig string) string {
	t.Helper()
	add := "persistent_keepalive = 25\nmetrics_listen = \"" + listen + "\""
	if webConfig != "" {
		add += "\nmetrics_web_config = \"" + webConfig + "\""
	}
	return edit(t, "persistent_keepalive = 25", add)
}

// Metrics off loopback without a web config load, with one warning at the
// key; on loopback, or with a web config, without.
func TestMetricsListenWarning(t *testing.T) {
	web := writeWebConfig(t, t.TempDir(), "basic_auth_users:\n  prometheus: "+hash(t, "secret")+"\n")
	for _, c := range []struct {
		listen, webConfig string
		warn              bool
	}{
		{"127.0.0.1:9586", "", false},
		{"127.9.9.9:9586", "", false},
		{"[::1]:9586", "", false},
		{"localhost:9586", "", false},
		{"[::ffff:127.0.0.1]:9586", "", false},
		{"0.0.0.0:9586", "", true},
		{"[::]:9586", "", true},
		{"10.0.0.1:9586", "", true},
		{"metrics.example.com:9586", "", true},
		{"0.0.0.0:9586", web, false},
		{"10.0.0.1:9586", web, false},
	} {
		t.Run(c.listen+" "+c.webConfig, func(t *testing.T) {
			cfg, err := Parse("base.toml", []byte(withMetrics(t, c.listen, c.webConfig)))
			if err != nil {
				t.Fatalf("a warning must not be an error: %v", err)
			}
			var got []string
			for _, w := range cfg.Warnings {
				got = append(got, w.Error())
			}
			if !c.warn {
				if len(got) > 0 {
					t.Errorf("warnings %q, want none", got)
				}
				return
			}
			want := "base.toml:11:18: node.metrics_listen: warning: " + c.listen + " is not a loopback address and node.metrics_web_config is not set"
			if len(got) != 1 || !strings.HasPrefix(got[0], want) {
				t.Errorf("warnings %q, want one starting %q", got, want)
			}
		})
	}
	cfg, err := Parse("base.toml", []byte(base))
	if err != nil || cfg.Warnings != nil {
		t.Errorf("base without metrics: %v, warnings %v", err, cfg.Warnings)
	}
}

// node.metrics_web_config is read as the metrics listener will read it:
// the YAML, the certificate and key it names, the bcrypt hashes. Each
// problem is one line at the key's value.
func TestMetricsWebConfig(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := selfSigned(t, dir)
	users := "basic_auth_users:\n  prometheus: " + hash(t, "secret") + "\n"
	tlsConf := "tls_server_config:\n  cert_file: " + certFile + "\n  key_file: " + keyFile + "\n"
	const at = "12:22: node.metrics_web_config: "
	for _, c := range []struct {
		name    string
		content string // written to a file of its own; "" for none
		path    string // instead of that file
		want    string // "" for valid
	}{
		{name: "TLS and basic auth", content: tlsConf + users},
		{name: "basic auth only", content: users},
		{name: "TLS only, certificate relative to the file", content: "tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\n"},
		{name: "empty file", content: "\n"},
		{name: "missing", path: filepath.Join(dir, "nope.yml"), want: "no such file or directory"},
		{name: "directory", path: dir, want: "is not a regular file"},
		{name: "relative", path: "web.yml", want: `"web.yml" is not an absolute path`},
		{name: "unknown key", content: users + "basic_auth_user: {}\n", want: "field basic_auth_user not found"},
		{name: "not YAML", content: "tls_server_config: [\n", want: "yaml:"},
		{name: "password not a bcrypt hash", content: "basic_auth_users:\n  prometheus: secret\n", want: "hashedSecret too short"},
		{name: "certificate file missing", content: strings.Replace(tlsConf, certFile, filepath.Join(dir, "gone.crt"), 1), want: "failed to read cert_file"},
		{name: "key without certificate", content: "tls_server_config:\n  key_file: " + keyFile + "\n", want: "missing one of cert or cert_file"},
		{name: "key of another certificate", content: strings.Replace(tlsConf, keyFile, otherKey(t, dir), 1), want: "private key does not match public key"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := c.path
			if p == "" {
				p = writeWebConfig(t, dir, c.content)
			}
			cfg, err := Parse("base.toml", []byte(withMetrics(t, "0.0.0.0:9586", p)))
			if c.want == "" {
				expectErrors(t, err)
				if len(cfg.Warnings) > 0 || cfg.Node.MetricsWebConfig != p {
					t.Errorf("web config %q, warnings %v", cfg.Node.MetricsWebConfig, cfg.Warnings)
				}
				return
			}
			expectErrors(t, err, want{at, c.want})
		})
	}
}

// writeWebConfig writes content to a new file in dir and returns its path.
func writeWebConfig(t *testing.T, dir, content string) string {
	t.Helper()
	f, err := os.CreateTemp(dir, "web-*.yml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

func hash(t *testing.T, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// selfSigned writes tls.crt and tls.key into dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certFile = filepath.Join(dir, "tls.crt")
	writePEM(t, certFile, "CERTIFICATE", der)
	return certFile, writeKey(t, filepath.Join(dir, "tls.key"), key)
}

// otherKey writes a key that matches no certificate.
func otherKey(t *testing.T, dir string) string {
	return writeKey(t, filepath.Join(dir, "other.key"), newKey(t))
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func writeKey(t *testing.T, path string, key *ecdsa.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, path, "PRIVATE KEY", der)
	return path
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
