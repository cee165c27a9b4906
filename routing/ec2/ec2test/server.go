// Package ec2test is a stand-in for the parts of the EC2 Query API and of
// IMDSv2 that vpcmesh uses, as httptest servers that keep state: network
// interfaces' Source/Dest check, route tables, tagged instances. Tests drive
// the real aws-sdk-go-v2 client against it and then look at the state, as
// a user would in the console. Faults are injected per action: a missing
// IAM permission, throttling, server errors.
package ec2test

import (
	"encoding/xml"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
)

// Server is the EC2 API stand-in. Its methods may be called while the
// client runs.
type Server struct {
	*httptest.Server

	mu        sync.Mutex
	enis      map[string]*ENI
	tables    []*Table
	instances []Instance
	faults    map[string][]fault
	calls     map[string]int
	onRoutes  func(table string, routes []Route)
}

// OnRoutes sets a function called, with the table's routes, after every
// route change: a lab makes its VPC router follow the route table with it.
func (s *Server) OnRoutes(f func(table string, routes []Route)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onRoutes = f
}

// ENI is a network interface.
type ENI struct {
	SourceDestCheck bool
	// Lag is how many reads after a change still show the old value: EC2
	// is eventually consistent.
	Lag   int
	stale int
}

// Table is a VPC route table.
type Table struct {
	ID      string
	VPC     string
	Main    bool     // the VPC's main table: subnets without a table of their own use it
	Subnets []string // explicitly associated
	Routes  []Route
}

// Route is a route of a Table: to a gateway (igw-…, local) or an ENI.
type Route struct {
	Dst       string
	Gateway   string
	ENI       string
	Blackhole bool
}

// Target is where the route goes.
func (r Route) Target() string { return r.Gateway + r.ENI }

// Instance is an EC2 instance, for DescribeInstances.
type Instance struct {
	ID        string
	State     string // running, stopped, …
	PrivateIP string
	PublicIP  string
	Tags      map[string]string
}

type fault struct {
	status int
	code   string
	sticky bool // stays for every later call
}

// NewServer starts a stand-in with no resources. Close it when done.
func NewServer() *Server { return NewServerOn(nil) }

// NewServerOn is NewServer serving on ln, e.g. a listener opened inside a
// network namespace; nil: a new one on loopback.
func NewServerOn(ln net.Listener) *Server {
	s := &Server{enis: map[string]*ENI{}, faults: map[string][]fault{}, calls: map[string]int{}}
	s.Server = serveOn(ln, http.HandlerFunc(s.serve))
	return s
}

// serveOn starts an httptest server on ln, or on loopback when ln is nil.
func serveOn(ln net.Listener, h http.Handler) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	if ln != nil {
		srv.Listener.Close()
		srv.Listener = ln
	}
	srv.Start()
	return srv
}

// AddENI adds a network interface.
func (s *Server) AddENI(id string, sourceDestCheck bool) *ENI {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := &ENI{SourceDestCheck: sourceDestCheck}
	s.enis[id] = e
	return e
}

// AddTable adds a route table.
func (s *Server) AddTable(t Table) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tables = append(s.tables, &t)
}

// AddInstance adds an instance.
func (s *Server) AddInstance(i Instance) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.instances = append(s.instances, i)
}

// SourceDestCheck is the interface's check as EC2 holds it now.
func (s *Server) SourceDestCheck(eni string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.enis[eni].SourceDestCheck
}

// Routes is a copy of a table's routes.
func (s *Server) Routes(table string) []Route {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.table(table); t != nil {
		return append([]Route(nil), t.Routes...)
	}
	return nil
}

// SetRoute adds or replaces a route, as someone in the console would.
func (s *Server) SetRoute(table string, r Route) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.table(table)
	t.deleteRoute(r.Dst)
	t.Routes = append(t.Routes, r)
}

// Deny makes every call of action fail as a missing IAM permission does.
func (s *Server) Deny(action string) {
	s.inject(action, -1, http.StatusForbidden, "UnauthorizedOperation")
}

// Throttle makes the next n calls of action fail with RequestLimitExceeded.
func (s *Server) Throttle(action string, n int) {
	s.inject(action, n, http.StatusServiceUnavailable, "RequestLimitExceeded")
}

// Fail makes the next n calls of action fail with a server error.
func (s *Server) Fail(action string, n int) {
	s.inject(action, n, http.StatusInternalServerError, "InternalError")
}

// inject queues n faults for action; n < 0 for every call from now on.
func (s *Server) inject(action string, n, status int, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := fault{status: status, code: code, sticky: n < 0}
	if n < 0 {
		s.faults[action] = []fault{f}
		return
	}
	for range n {
		s.faults[action] = append(s.faults[action], f)
	}
}

// Allow removes the faults of action.
func (s *Server) Allow(action string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.faults, action)
}

// Calls is how many times action was called, failed calls included.
func (s *Server) Calls(action string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[action]
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
		writeError(w, http.StatusBadRequest, "MalformedQueryString", "want a form POST")
		return
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=") {
		writeError(w, http.StatusUnauthorized, "AuthFailure", "AWS was not able to validate the provided access credentials")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	action := r.Form.Get("Action")
	s.calls[action]++
	if f, ok := s.nextFault(action); ok {
		writeError(w, f.status, f.code, faultMessage(f.code))
		return
	}
	h, ok := s.handlers()[action]
	if !ok {
		writeError(w, http.StatusBadRequest, "InvalidAction", "The action "+action+" is not valid for this web service.")
		return
	}
	body, err := h(r.Form)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.code, err.msg)
		return
	}
	if t := s.table(r.Form.Get("RouteTableId")); t != nil && s.onRoutes != nil && strings.HasSuffix(action, "Route") {
		s.onRoutes(t.ID, slices.Clone(t.Routes))
	}
	s.writeXML(w, body)
}

func (s *Server) nextFault(action string) (fault, bool) {
	q := s.faults[action]
	if len(q) == 0 {
		return fault{}, false
	}
	if !q[0].sticky {
		s.faults[action] = q[1:]
	}
	return q[0], true
}

func faultMessage(code string) string {
	switch code {
	case "UnauthorizedOperation":
		return "You are not authorized to perform this operation. Encoded authorization failure message: AAAA"
	case "RequestLimitExceeded":
		return "Request limit exceeded."
	}
	return "An internal error has occurred"
}

func (s *Server) writeXML(w http.ResponseWriter, body any) {
	b, err := xml.Marshal(body)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "InternalError", err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	fmt.Fprintf(w, "%s%s", xml.Header, b)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	b, _ := xml.Marshal(xmlError{Code: code, Message: msg, RequestID: "ec2test"})
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, "%s%s", xml.Header, b)
}
