package e2e

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/vpcmesh/vpcmesh/e2e/lab"
	"github.com/vpcmesh/vpcmesh/e2e/scenario"
)

// A gateway serves its metrics on its LAN address through a web config
// (node.metrics_web_config) with TLS and basic auth, and a host of the LAN
// scrapes them: plain HTTP gets no metrics, TLS without credentials or
// with a wrong password gets 401, TLS with the right ones gets the
// metrics, from the certificate of the web config. The gateway does not
// warn of open metrics.
func TestMetricsTLSAndBasicAuth(t *testing.T) {
	l, ctx := newLab(t)
	office, err := scenario.Office(l)
	must(t, err)
	addr := office.GatewayIP + ":9586"
	gw, err := scenario.NewGateway(l, vpcmeshBin, scenario.GatewaySpec{Name: "office-gw", NS: office.Gateway,
		Overlay: scenario.OfficeGWMesh, SiteName: "office", CIDRs: []string{scenario.OfficeLAN}, MetricsListen: addr})
	must(t, err)

	const user, password = "prometheus", "scrape-secret"
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	must(t, err)
	certPEM := writeSelfSigned(t, gw.Dir, netip.MustParseAddr(office.GatewayIP))
	webConfig := filepath.Join(gw.Dir, "web.yml")
	must(t, os.WriteFile(webConfig, []byte(fmt.Sprintf("tls_server_config:\n  cert_file: metrics.crt\n  key_file: metrics.key\nbasic_auth_users:\n  %s: %s\n", user, hash)), 0o600))
	// The scenario knows no web config: the key goes under metrics_listen.
	cfg, err := os.ReadFile(gw.ConfigPath)
	must(t, err)
	listenLine := fmt.Sprintf("metrics_listen = %q\n", addr)
	if !bytes.Contains(cfg, []byte(listenLine)) {
		t.Fatalf("no %q in the config:\n%s", listenLine, cfg)
	}
	cfg = bytes.Replace(cfg, []byte(listenLine), []byte(listenLine+fmt.Sprintf("metrics_web_config = %q\n", webConfig)), 1)
	must(t, os.WriteFile(gw.ConfigPath, cfg, 0o600))
	must(t, gw.Start(ctx))

	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(certPEM) {
		t.Fatal("own certificate does not parse")
	}
	tlsConf := &tls.Config{RootCAs: roots, ServerName: office.GatewayIP}
	pc := office.Hosts["pc-a"]

	plain, err := get(pc, addr, nil, "", "")
	must(t, err)
	if plain.status == http.StatusOK || strings.Contains(plain.body, "vpcmesh_") {
		t.Errorf("plain HTTP got %d with metrics:\n%.300s", plain.status, plain.body)
	}
	anon, err := get(pc, addr, tlsConf, "", "")
	must(t, err)
	if anon.status != http.StatusUnauthorized || anon.auth != "Basic" || strings.Contains(anon.body, "vpcmesh_") {
		t.Errorf("TLS without credentials: %d, WWW-Authenticate %q, want 401 Basic and no metrics:\n%.300s", anon.status, anon.auth, anon.body)
	}
	wrong, err := get(pc, addr, tlsConf, user, password+"x")
	must(t, err)
	if wrong.status != http.StatusUnauthorized || strings.Contains(wrong.body, "vpcmesh_") {
		t.Errorf("TLS with a wrong password: %d, want 401 and no metrics", wrong.status)
	}
	ok, err := get(pc, addr, tlsConf, user, password)
	must(t, err)
	if ok.status != http.StatusOK || !strings.Contains(ok.body, "\nvpcmesh_status_up 1\n") || !strings.Contains(ok.body, "\nvpcmesh_peers 0\n") {
		t.Errorf("TLS with credentials: %d, want 200 with vpcmesh_status_up 1:\n%.500s", ok.status, ok.body)
	}
	if ok.tls == nil || ok.tls.Version < tls.VersionTLS12 || len(ok.tls.PeerCertificates) == 0 ||
		!bytes.Equal(ok.tls.PeerCertificates[0].Raw, pemBlock(t, certPEM)) {
		t.Errorf("metrics not over TLS with the web config's certificate: %+v", ok.tls)
	}
	t.Logf("plain HTTP: %d; TLS: %d without credentials, %d with a wrong password, %d with the right ones (%s, %d bytes of metrics)",
		plain.status, anon.status, wrong.status, ok.status, tls.VersionName(ok.tls.Version), len(ok.body))
	if log := gw.Log(); strings.Contains(log, "node.metrics_listen: warning") {
		t.Errorf("the gateway warned of open metrics although they need TLS and a password:\n%s", log)
	}
}

type response struct {
	status int
	auth   string // WWW-Authenticate
	body   string
	tls    *tls.ConnectionState // nil over plain HTTP
}

// get fetches /metrics at addr from inside ns, over TLS when conf is set,
// with basic auth when user is set.
func get(ns *lab.NS, addr string, conf *tls.Config, user, password string) (response, error) {
	var r response
	err := ns.Do(func() error {
		// Dialled here, on the thread inside ns (see scrape).
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if conf != nil {
			tc := tls.Client(c, conf)
			if err := tc.Handshake(); err != nil {
				return err
			}
			st := tc.ConnectionState()
			r.tls, c = &st, tc
		}
		req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/metrics", nil)
		if err != nil {
			return err
		}
		req.Close = true
		if user != "" {
			req.SetBasicAuth(user, password)
		}
		if err := req.Write(c); err != nil {
			return err
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		r.status, r.auth, r.body = resp.StatusCode, resp.Header.Get("WWW-Authenticate"), string(body)
		return err
	})
	return r, err
}

// writeSelfSigned writes metrics.crt and metrics.key into dir: a
// self-signed certificate for ip. It returns the certificate's PEM.
func writeSelfSigned(t *testing.T, dir string, ip netip.Addr) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "vpcmesh metrics"},
		IPAddresses: []net.IP{ip.AsSlice()}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	must(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	must(t, err)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	must(t, os.WriteFile(filepath.Join(dir, "metrics.crt"), certPEM, 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "metrics.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600))
	return certPEM
}

func pemBlock(t *testing.T, p []byte) []byte {
	t.Helper()
	b, _ := pem.Decode(p)
	if b == nil {
		t.Fatal("no PEM block")
	}
	return b.Bytes
}
