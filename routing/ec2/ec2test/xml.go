package ec2test

import "encoding/xml"

// The response bodies, element for element as EC2 (API version 2016-11-15)
// writes them and the SDK's ec2query deserializers read them.

const xmlns = "http://ec2.amazonaws.com/doc/2016-11-15/"

type xmlError struct {
	XMLName   xml.Name `xml:"Response"`
	Code      string   `xml:"Errors>Error>Code"`
	Message   string   `xml:"Errors>Error>Message"`
	RequestID string   `xml:"RequestID"`
}

// xmlReturn answers the calls that return only success: CreateRoute,
// ReplaceRoute, DeleteRoute, ModifyNetworkInterfaceAttribute.
type xmlReturn struct {
	XMLName   xml.Name
	Xmlns     string `xml:"xmlns,attr"`
	RequestID string `xml:"requestId"`
	Return    bool   `xml:"return"`
}

type xmlSourceDest struct {
	XMLName            xml.Name `xml:"DescribeNetworkInterfaceAttributeResponse"`
	Xmlns              string   `xml:"xmlns,attr"`
	RequestID          string   `xml:"requestId"`
	NetworkInterfaceID string   `xml:"networkInterfaceId"`
	SourceDestCheck    bool     `xml:"sourceDestCheck>value"`
}

type xmlRouteTables struct {
	XMLName   xml.Name        `xml:"DescribeRouteTablesResponse"`
	Xmlns     string          `xml:"xmlns,attr"`
	RequestID string          `xml:"requestId"`
	Tables    []xmlRouteTable `xml:"routeTableSet>item"`
}

type xmlRouteTable struct {
	ID           string           `xml:"routeTableId"`
	VPC          string           `xml:"vpcId"`
	OwnerID      string           `xml:"ownerId"`
	Routes       []xmlRoute       `xml:"routeSet>item"`
	Associations []xmlAssociation `xml:"associationSet>item"`
}

type xmlRoute struct {
	Dst     string `xml:"destinationCidrBlock"`
	Gateway string `xml:"gatewayId,omitempty"`
	ENI     string `xml:"networkInterfaceId,omitempty"`
	State   string `xml:"state"`
	Origin  string `xml:"origin"`
}

type xmlAssociation struct {
	ID     string `xml:"routeTableAssociationId"`
	Table  string `xml:"routeTableId"`
	Subnet string `xml:"subnetId,omitempty"`
	Main   bool   `xml:"main"`
	State  string `xml:"associationState>state"`
}

type xmlInstances struct {
	XMLName      xml.Name         `xml:"DescribeInstancesResponse"`
	Xmlns        string           `xml:"xmlns,attr"`
	RequestID    string           `xml:"requestId"`
	Reservations []xmlReservation `xml:"reservationSet>item"`
}

type xmlReservation struct {
	ID        string        `xml:"reservationId"`
	OwnerID   string        `xml:"ownerId"`
	Instances []xmlInstance `xml:"instancesSet>item"`
}

type xmlInstance struct {
	ID        string   `xml:"instanceId"`
	StateCode int      `xml:"instanceState>code"`
	StateName string   `xml:"instanceState>name"`
	PrivateIP string   `xml:"privateIpAddress,omitempty"`
	PublicIP  string   `xml:"ipAddress,omitempty"`
	Tags      []xmlTag `xml:"tagSet>item"`
}

type xmlTag struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

func xmlName(local string) xml.Name { return xml.Name{Local: local} }
