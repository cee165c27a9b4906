package ec2

import (
	"errors"
	"fmt"

	"github.com/aws/smithy-go"
)

// PermissionError says which IAM action the instance's role lacks. EC2
// answers UnauthorizedOperation without naming it; the operation does.
type PermissionError struct {
	Action string // e.g. ec2:CreateRoute
	Err    error
}

func (e *PermissionError) Error() string {
	return fmt.Sprintf("IAM permission %s missing: allow it to the instance's role (see configs/examples/ec2-iam-policy.json)", e.Action)
}

func (e *PermissionError) Unwrap() error { return e.Err }

// explain turns an SDK error into one that says what to do: a missing
// permission is named; others keep the SDK's text, which names the
// operation, the attempts made and EC2's error code.
func explain(err error) error {
	var api smithy.APIError
	var op *smithy.OperationError
	if errors.As(err, &api) && api.ErrorCode() == "UnauthorizedOperation" && errors.As(err, &op) {
		return &PermissionError{Action: "ec2:" + op.Operation(), Err: err}
	}
	return err
}

// errorCode is EC2's error code in err, or "".
func errorCode(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}
