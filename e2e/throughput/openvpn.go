package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/vpcmesh/vpcmesh/e2e/lab"
)

// setupOpenVPN: OpenVPN point to point over UDP on the underlay, TLS mode
// with a throw-away CA (static keys are deprecated and gone in 2.7), one
// AEAD cipher, no compression, userspace data channel (no DCO module here);
// iperf3 between the tunnel addresses 10.201.0.1 and .2.
func setupOpenVPN(ctx context.Context, e *env, lg *leg) error {
	left, right, err := pair(e, lg)
	if err != nil {
		return err
	}
	dir := filepath.Join(e.lab.Dir, "openvpn")
	pki, err := writePKI(dir)
	if err != nil {
		return err
	}
	common := func(self, peer, selfTun, peerTun string) []string {
		return []string{"openvpn",
			"--dev", "ovpn0", "--dev-type", "tun",
			"--proto", "udp", "--local", self, "--remote", peer, "--port", "1194",
			"--ifconfig", selfTun, peerTun,
			"--ca", pki.ca, "--data-ciphers", e.cipher,
			"--disable-dco", "--verb", "3", "--mute-replay-warnings",
			// Give up on a peer that never answers instead of retrying for ever.
			"--ping", "10", "--ping-exit", "60",
		}
	}
	server := append(common(right, left, "10.201.0.2", "10.201.0.1"),
		"--tls-server", "--dh", "none", "--cert", pki.serverCert, "--key", pki.serverKey, "--remote-cert-tls", "client")
	client := append(common(left, right, "10.201.0.1", "10.201.0.2"),
		"--tls-client", "--cert", pki.clientCert, "--key", pki.clientKey, "--remote-cert-tls", "server")
	srv, err := lg.server.Start("openvpn-right", server...)
	if err != nil {
		return err
	}
	cli, err := lg.client.Start("openvpn-left", client...)
	if err != nil {
		return err
	}
	lg.pids = []int{srv.Pid(), cli.Pid()}
	for _, p := range []*lab.Proc{srv, cli} {
		err := lab.Eventually(ctx, upTimeout, func() error {
			if p.Exited() {
				return fmt.Errorf("%s exited:\n%s", p.Name, p.Log())
			}
			if !strings.Contains(p.Log(), "Initialization Sequence Completed") {
				return fmt.Errorf("%s: no TLS session yet:\n%s", p.Name, p.Log())
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	cipher := "?"
	if m := dataCipherRE.FindStringSubmatch(cli.Log()); m != nil {
		cipher = m[1]
	}
	if cipher != e.cipher {
		return fmt.Errorf("OpenVPN data channel uses %s, want %s:\n%s", cipher, e.cipher, cli.Log())
	}
	lg.dst, lg.listen = "10.201.0.2", "10.201.0.2"
	lg.note = fmt.Sprintf("OpenVPN TLS p2p over UDP, data channel %s, no compression, no DCO, default tun MTU", cipher)
	return waitPing(ctx, lg.client, "", lg.dst)
}

// dataCipherRE finds the negotiated data channel cipher in OpenVPN's log.
var dataCipherRE = regexp.MustCompile(`Data Channel: cipher '([^']+)'`)

// pki is the paths of a throw-away CA's certificate and of two leaf
// certificates and keys it signed.
type pki struct {
	ca                    string
	serverCert, serverKey string
	clientCert, clientKey string
}

// writePKI makes an ECDSA P-256 CA and a server and a client certificate,
// valid for a day, in dir (keys 0600).
func writePKI(dir string) (*pki, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "vpcmesh throughput lab CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	p := &pki{ca: filepath.Join(dir, "ca.pem")}
	if err := writePEM(p.ca, "CERTIFICATE", caDER); err != nil {
		return nil, err
	}
	leaf := func(name string, usage x509.ExtKeyUsage) (certPath, keyPath string, err error) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return "", "", err
		}
		tmpl := &x509.Certificate{
			SerialNumber: serial(),
			Subject:      pkix.Name{CommonName: name},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			return "", "", err
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return "", "", err
		}
		certPath, keyPath = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
		if err := writePEM(certPath, "CERTIFICATE", der); err != nil {
			return "", "", err
		}
		return certPath, keyPath, writePEM(keyPath, "PRIVATE KEY", keyDER)
	}
	if p.serverCert, p.serverKey, err = leaf("server", x509.ExtKeyUsageServerAuth); err != nil {
		return nil, err
	}
	if p.clientCert, p.clientKey, err = leaf("client", x509.ExtKeyUsageClientAuth); err != nil {
		return nil, err
	}
	return p, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return n
}

func writePEM(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}
