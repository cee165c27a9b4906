package ec2

import (
	"encoding/json"
	"os"
	"slices"
	"testing"
)

// iamActions is every EC2 call this package makes.
var iamActions = []string{
	"ec2:CreateRoute", "ec2:DeleteRoute", "ec2:DescribeInstances", "ec2:DescribeNetworkInterfaceAttribute",
	"ec2:DescribeRouteTables", "ec2:ModifyNetworkInterfaceAttribute", "ec2:ReplaceRoute",
}

// The example policy allows exactly the calls made, and nothing else.
func TestIAMPolicyExample(t *testing.T) {
	b, err := os.ReadFile("../../configs/examples/ec2-iam-policy.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Statement []struct {
			Effect string
			Action json.RawMessage
		}
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range doc.Statement {
		var one string
		var many []string
		if json.Unmarshal(s.Action, &one) == nil {
			many = []string{one}
		} else if err := json.Unmarshal(s.Action, &many); err != nil {
			t.Fatal(err)
		}
		if s.Effect != "Allow" {
			t.Errorf("effect %q", s.Effect)
		}
		got = append(got, many...)
	}
	slices.Sort(got)
	if !slices.Equal(got, iamActions) {
		t.Errorf("policy allows %v, the code calls %v", got, iamActions)
	}
}
