package ec2

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/vpcmesh/vpcmesh/routing/ec2/ec2test"
)

func TestDetect(t *testing.T) {
	m := ec2test.NewIMDS("i-0123456789abcdef0", "eu-west-1", "0a:00:00:00:00:01", eni1, vpc, subPub)
	defer m.Close()
	inst, err := Detect(context.Background(), m.URL)
	if err != nil {
		t.Fatal(err)
	}
	if *inst != *testInstance() {
		t.Errorf("Detect = %+v, want %+v", *inst, *testInstance())
	}
	if m.Tokens() == 0 || m.Untokened() != 0 {
		t.Errorf("%d tokens, %d requests without a token: want IMDSv2 only", m.Tokens(), m.Untokened())
	}
}

// Off EC2 the metadata address either refuses or swallows packets; both
// must end in "not on EC2" in about a second, not in a retry storm.
func TestDetectNotEC2(t *testing.T) {
	silent, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	refused, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused.Close()
	for name, endpoint := range map[string]string{"silent": "http://" + silent.Addr().String(), "refused": "http://" + refused.Addr().String()} {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			inst, err := Detect(context.Background(), endpoint)
			took := time.Since(start)
			if !errors.Is(err, ErrNotEC2) || inst != nil {
				t.Fatalf("Detect = %v, %v; want ErrNotEC2", inst, err)
			}
			if took > 1500*time.Millisecond {
				t.Errorf("took %v to say %q", took, err)
			}
			t.Logf("%v: %v", took, err)
		})
	}
}
