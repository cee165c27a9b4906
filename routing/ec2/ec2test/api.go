package ec2test

import (
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
)

// apiError is an EC2 error answer (HTTP 400).
type apiError struct{ code, msg string }

type handler func(url.Values) (any, *apiError)

func (s *Server) handlers() map[string]handler {
	return map[string]handler{
		"DescribeNetworkInterfaceAttribute": s.describeENIAttribute,
		"ModifyNetworkInterfaceAttribute":   s.modifyENIAttribute,
		"DescribeRouteTables":               s.describeRouteTables,
		"CreateRoute":                       s.createRoute,
		"ReplaceRoute":                      s.replaceRoute,
		"DeleteRoute":                       s.deleteRoute,
		"DescribeInstances":                 s.describeInstances,
	}
}

func ok(action string) any {
	return &xmlReturn{XMLName: xmlName(action + "Response"), Xmlns: xmlns, RequestID: "ec2test", Return: true}
}

func (s *Server) eni(id string) (*ENI, *apiError) {
	if e, ok := s.enis[id]; ok {
		return e, nil
	}
	return nil, &apiError{"InvalidNetworkInterfaceID.NotFound", fmt.Sprintf("The networkInterface ID '%s' does not exist", id)}
}

func (s *Server) describeENIAttribute(f url.Values) (any, *apiError) {
	if a := f.Get("Attribute"); a != "sourceDestCheck" {
		return nil, &apiError{"InvalidParameterValue", "this stand-in knows only the sourceDestCheck attribute, not " + a}
	}
	e, err := s.eni(f.Get("NetworkInterfaceId"))
	if err != nil {
		return nil, err
	}
	check := e.SourceDestCheck
	if e.stale > 0 {
		e.stale--
		check = !check
	}
	return &xmlSourceDest{Xmlns: xmlns, RequestID: "ec2test", NetworkInterfaceID: f.Get("NetworkInterfaceId"), SourceDestCheck: check}, nil
}

func (s *Server) modifyENIAttribute(f url.Values) (any, *apiError) {
	e, err := s.eni(f.Get("NetworkInterfaceId"))
	if err != nil {
		return nil, err
	}
	v, perr := strconv.ParseBool(f.Get("SourceDestCheck.Value"))
	if perr != nil {
		return nil, &apiError{"InvalidParameterValue", "this stand-in changes only SourceDestCheck.Value"}
	}
	if v != e.SourceDestCheck {
		e.SourceDestCheck, e.stale = v, e.Lag
	}
	return ok("ModifyNetworkInterfaceAttribute"), nil
}

func (s *Server) describeRouteTables(f url.Values) (any, *apiError) {
	filters, err := parseFilters(f, "vpc-id")
	if err != nil {
		return nil, err
	}
	out := &xmlRouteTables{Xmlns: xmlns, RequestID: "ec2test"}
	for _, t := range s.tables {
		if matches(filters, "vpc-id", t.VPC) {
			out.Tables = append(out.Tables, t.xml())
		}
	}
	return out, nil
}

func (t *Table) xml() xmlRouteTable {
	x := xmlRouteTable{ID: t.ID, VPC: t.VPC, OwnerID: "111122223333"}
	for _, r := range t.Routes {
		state, origin := "active", "CreateRoute"
		if r.Blackhole {
			state = "blackhole"
		}
		if r.Gateway == "local" {
			origin = "CreateRouteTable"
		}
		x.Routes = append(x.Routes, xmlRoute{Dst: r.Dst, Gateway: r.Gateway, ENI: r.ENI, State: state, Origin: origin})
	}
	if t.Main {
		x.Associations = append(x.Associations, xmlAssociation{ID: "rtbassoc-main" + t.ID[4:], Table: t.ID, Main: true, State: "associated"})
	}
	for _, sn := range t.Subnets {
		x.Associations = append(x.Associations, xmlAssociation{ID: "rtbassoc-" + sn[7:], Table: t.ID, Subnet: sn, State: "associated"})
	}
	return x
}

// routeArgs checks the arguments the route calls share.
func (s *Server) routeArgs(f url.Values, needENI bool) (*Table, string, *apiError) {
	t := s.table(f.Get("RouteTableId"))
	if t == nil {
		return nil, "", &apiError{"InvalidRouteTableID.NotFound", fmt.Sprintf("The routeTable ID '%s' does not exist", f.Get("RouteTableId"))}
	}
	dst := f.Get("DestinationCidrBlock")
	if p, err := netip.ParsePrefix(dst); err != nil || p.Masked() != p {
		return nil, "", &apiError{"InvalidParameterValue", fmt.Sprintf("Value (%s) for parameter destinationCidrBlock is invalid.", dst)}
	}
	if needENI {
		if _, err := s.eni(f.Get("NetworkInterfaceId")); err != nil {
			return nil, "", err
		}
	}
	return t, dst, nil
}

func (s *Server) createRoute(f url.Values) (any, *apiError) {
	t, dst, err := s.routeArgs(f, true)
	if err != nil {
		return nil, err
	}
	if t.route(dst) != nil {
		return nil, &apiError{"RouteAlreadyExists", fmt.Sprintf("The route identified by %s already exists.", dst)}
	}
	t.Routes = append(t.Routes, Route{Dst: dst, ENI: f.Get("NetworkInterfaceId")})
	return ok("CreateRoute"), nil
}

func (s *Server) replaceRoute(f url.Values) (any, *apiError) {
	t, dst, err := s.routeArgs(f, true)
	if err != nil {
		return nil, err
	}
	r := t.route(dst)
	if r == nil {
		return nil, noRoute(t.ID, dst)
	}
	*r = Route{Dst: dst, ENI: f.Get("NetworkInterfaceId")}
	return ok("ReplaceRoute"), nil
}

func (s *Server) deleteRoute(f url.Values) (any, *apiError) {
	t, dst, err := s.routeArgs(f, false)
	if err != nil {
		return nil, err
	}
	if !t.deleteRoute(dst) {
		return nil, noRoute(t.ID, dst)
	}
	return ok("DeleteRoute"), nil
}

func noRoute(table, dst string) *apiError {
	return &apiError{"InvalidRoute.NotFound", fmt.Sprintf("no route with destination-cidr-block %s in route table %s", dst, table)}
}

func (s *Server) describeInstances(f url.Values) (any, *apiError) {
	filters, err := parseFilters(f, "instance-state-name", "tag:*")
	if err != nil {
		return nil, err
	}
	out := &xmlInstances{Xmlns: xmlns, RequestID: "ec2test"}
	for _, i := range s.instances {
		if !i.matches(filters) {
			continue
		}
		x := xmlInstance{ID: i.ID, StateCode: stateCodes[i.State], StateName: i.State, PrivateIP: i.PrivateIP, PublicIP: i.PublicIP}
		for k, v := range i.Tags {
			x.Tags = append(x.Tags, xmlTag{Key: k, Value: v})
		}
		out.Reservations = append(out.Reservations, xmlReservation{ID: "r-" + i.ID[2:], OwnerID: "111122223333", Instances: []xmlInstance{x}})
	}
	return out, nil
}

var stateCodes = map[string]int{"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80}

func (i Instance) matches(filters map[string][]string) bool {
	for name, values := range filters {
		v, ok := i.State, true
		if name != "instance-state-name" {
			v, ok = i.Tags[name[len("tag:"):]]
		}
		if !ok || !slices.Contains(values, v) {
			return false
		}
	}
	return true
}

func (s *Server) table(id string) *Table {
	for _, t := range s.tables {
		if t.ID == id {
			return t
		}
	}
	return nil
}

func (t *Table) route(dst string) *Route {
	for i := range t.Routes {
		if t.Routes[i].Dst == dst {
			return &t.Routes[i]
		}
	}
	return nil
}

func (t *Table) deleteRoute(dst string) bool {
	n := len(t.Routes)
	t.Routes = slices.DeleteFunc(t.Routes, func(r Route) bool { return r.Dst == dst })
	return len(t.Routes) < n
}

// parseFilters reads Filter.N.Name and Filter.N.Value.M. Filters the
// stand-in does not know are refused, so that a test cannot pass by
// accident; "tag:*" allows every tag filter.
func parseFilters(f url.Values, known ...string) (map[string][]string, *apiError) {
	out := map[string][]string{}
	for n := 1; f.Has(fmt.Sprintf("Filter.%d.Name", n)); n++ {
		name := f.Get(fmt.Sprintf("Filter.%d.Name", n))
		if !slices.Contains(known, name) && !(slices.Contains(known, "tag:*") && len(name) > 4 && name[:4] == "tag:") {
			return nil, &apiError{"InvalidParameterValue", "this stand-in does not know the filter " + name}
		}
		for m := 1; f.Has(fmt.Sprintf("Filter.%d.Value.%d", n, m)); m++ {
			out[name] = append(out[name], f.Get(fmt.Sprintf("Filter.%d.Value.%d", n, m)))
		}
	}
	return out, nil
}

func matches(filters map[string][]string, name, v string) bool {
	values, ok := filters[name]
	return !ok || slices.Contains(values, v)
}
