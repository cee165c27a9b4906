package ec2test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
)

// IMDS is the IMDSv2 stand-in: a PUT to /latest/api/token gives a session
// token, and meta-data GETs answer only with it, as on an instance whose
// metadata options require tokens.
type IMDS struct {
	*httptest.Server

	mu        sync.Mutex
	data      map[string]string // path under /latest/meta-data/ → value
	tokens    int
	untokened int
}

const imdsToken = "ec2test-token"

// NewIMDS answers for an instance whose primary interface is eni with mac.
func NewIMDS(instance, region, mac, eni, vpc, subnet string) *IMDS {
	return NewIMDSOn(nil, instance, region, mac, eni, vpc, subnet)
}

// NewIMDSOn is NewIMDS serving on ln (nil: a new one on loopback).
func NewIMDSOn(ln net.Listener, instance, region, mac, eni, vpc, subnet string) *IMDS {
	iface := "network/interfaces/macs/" + mac + "/"
	m := &IMDS{data: map[string]string{
		"instance-id":                 instance,
		"placement/region":            region,
		"mac":                         mac,
		iface + "interface-id":        eni,
		iface + "vpc-id":              vpc,
		iface + "subnet-id":           subnet,
		"placement/availability-zone": region + "a",
	}}
	m.Server = serveOn(ln, http.HandlerFunc(m.serve))
	return m
}

// Tokens is how many session tokens were handed out.
func (m *IMDS) Tokens() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.tokens
}

// Untokened is how many GETs came without a valid token (IMDSv1).
func (m *IMDS) Untokened() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.untokened
}

func (m *IMDS) serve(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case r.Method == http.MethodPut && r.URL.Path == "/latest/api/token":
		ttl := r.Header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds")
		if ttl == "" {
			http.Error(w, "missing TTL", http.StatusBadRequest)
			return
		}
		m.tokens++
		w.Header().Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", ttl)
		w.Write([]byte(imdsToken))
	case r.Method != http.MethodGet:
		http.Error(w, "", http.StatusMethodNotAllowed)
	case r.Header.Get("X-Aws-Ec2-Metadata-Token") != imdsToken:
		m.untokened++
		http.Error(w, "", http.StatusUnauthorized)
	default:
		v, ok := m.data[strings.TrimPrefix(r.URL.Path, "/latest/meta-data/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(v))
	}
}
