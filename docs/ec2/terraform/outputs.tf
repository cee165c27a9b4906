output "instance_id" {
  description = "The gateway's instance id."
  value       = aws_instance.this.id
}

output "ami_id" {
  description = "The AMI the instance was started from."
  value       = aws_instance.this.ami
}

output "public_ip" {
  description = "The Elastic IP, or the instance's own public IPv4 without one (it changes on stop/start)."
  value       = var.create_eip ? aws_eip.this[0].public_ip : aws_instance.this.public_ip
}

output "public_endpoint" {
  description = "Where other gateways reach this one (put it in their mesh.join)."
  value       = "${var.create_eip ? aws_eip.this[0].public_ip : aws_instance.this.public_ip}:${var.listen_port}"
}

output "security_group_id" {
  description = "The gateway's security group."
  value       = aws_security_group.this.id
}

output "iam_role_arn" {
  description = "The instance profile's role, with the vpcmesh policy."
  value       = aws_iam_role.this.arn
}

output "iam_policy_json" {
  description = "The policy attached to the role, to compare with configs/examples/ec2-iam-policy.json."
  value       = data.aws_iam_policy_document.vpcmesh.json
}

output "public_keys_command" {
  description = "Prints the public keys the instance generated (two-step), between vpcmesh-public-keys begin/end."
  value       = "aws ec2 get-console-output --latest --output text --region ${local.region} --instance-id ${aws_instance.this.id}"
}
