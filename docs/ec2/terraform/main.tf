# vpcmesh: one EC2 gateway of a gossip-mode mesh, bootstrapped by
# ../cloud-init.yaml. See README.md next to this file.

terraform {
  required_version = ">= 1.3"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

provider "aws" {
  region = var.region
}

# --- Lookups ---------------------------------------------------------------

# The newest official Debian 12 image (Debian's AWS account).
data "aws_ami" "debian" {
  most_recent = true
  owners      = ["136693071363"]

  filter {
    name   = "name"
    values = ["debian-12-amd64-*"]
  }
  filter {
    name   = "architecture"
    values = ["x86_64"]
  }
  filter {
    name   = "virtualization-type"
    values = ["hvm"]
  }
}

data "aws_subnet" "this" {
  id = var.subnet_id
}

data "aws_vpc" "this" {
  id = data.aws_subnet.this.vpc_id
}

locals {
  # arn:PARTITION:ec2:REGION:ACCOUNT_ID:subnet/ID: the policy's REGION and
  # ACCOUNT_ID come from the subnet itself.
  arn_parts = split(":", data.aws_subnet.this.arn)
  partition = local.arn_parts[1]
  region    = local.arn_parts[3]
  account   = local.arn_parts[4]
  ec2_arn   = "arn:${local.partition}:ec2:${local.region}:${local.account}"
  vpc_arn   = "${local.ec2_arn}:vpc/${data.aws_vpc.this.id}"

  site_cidrs  = var.site_cidrs != null ? var.site_cidrs : [data.aws_vpc.this.cidr_block]
  export_cidr = var.export_cidr != null ? var.export_cidr : local.site_cidrs[0]

  # s3://BUCKET/KEY: the role may read that one object.
  deb_s3     = regexall("^s3://([^/]+)/(.+)$", var.deb_url)
  deb_s3_arn = length(local.deb_s3) > 0 ? "arn:${local.partition}:s3:::${local.deb_s3[0][0]}/${local.deb_s3[0][1]}" : null

  join_tag = var.join_tag != "" ? { (split("=", var.join_tag)[0]) = join("=", slice(split("=", var.join_tag), 1, length(split("=", var.join_tag)))) } : {}

  # No Elastic IP: empty, and the instance fills in its public IPv4 at
  # first boot (it changes on stop/start).
  public_endpoint = var.create_eip ? "${aws_eip.this[0].public_ip}:${var.listen_port}" : ""

  tags = merge(var.tags, { Name = var.gateway_name })
}

# --- IAM: exactly configs/examples/ec2-iam-policy.json ---------------------
# (docs/guides/ec2-cross-region.md, "IAM and the security group")

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "vpcmesh" {
  statement {
    sid    = "VpcmeshReadOnly"
    effect = "Allow"
    actions = [
      "ec2:DescribeNetworkInterfaceAttribute",
      "ec2:DescribeRouteTables",
      "ec2:DescribeInstances",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "VpcmeshSourceDestCheck"
    effect    = "Allow"
    actions   = ["ec2:ModifyNetworkInterfaceAttribute"]
    resources = ["${local.ec2_arn}:network-interface/*"]
    condition {
      test     = "ArnEquals"
      variable = "ec2:Vpc"
      values   = [local.vpc_arn]
    }
  }

  # Only on the route tables named in the config; none named, no statement.
  dynamic "statement" {
    for_each = length(var.route_table_ids) > 0 ? [1] : []
    content {
      sid    = "VpcmeshRoutes"
      effect = "Allow"
      actions = [
        "ec2:CreateRoute",
        "ec2:ReplaceRoute",
        "ec2:DeleteRoute",
      ]
      resources = [for id in var.route_table_ids : "${local.ec2_arn}:route-table/${id}"]
      condition {
        test     = "ArnEquals"
        variable = "ec2:Vpc"
        values   = [local.vpc_arn]
      }
    }
  }

  # docs/guides/ec2-cross-region.md, "User data": fetching from S3 needs
  # s3:GetObject on it (here the .deb only).
  dynamic "statement" {
    for_each = local.deb_s3_arn != null ? [local.deb_s3_arn] : []
    content {
      sid       = "VpcmeshPackage"
      effect    = "Allow"
      actions   = ["s3:GetObject"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role" "this" {
  name_prefix        = "${var.gateway_name}-"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = local.tags
}

resource "aws_iam_role_policy" "vpcmesh" {
  name   = "vpcmesh"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.vpcmesh.json
}

resource "aws_iam_instance_profile" "this" {
  name_prefix = "${var.gateway_name}-"
  role        = aws_iam_role.this.name
  tags        = local.tags
}

# --- Security group: the WireGuard port, nothing else ----------------------

resource "aws_security_group" "this" {
  name_prefix = "${var.gateway_name}-"
  description = "vpcmesh gateway ${var.gateway_name}: WireGuard UDP ${var.listen_port}"
  vpc_id      = data.aws_vpc.this.id
  tags        = local.tags

  ingress {
    description      = "vpcmesh WireGuard and control packets"
    protocol         = "udp"
    from_port        = var.listen_port
    to_port          = var.listen_port
    cidr_blocks      = var.wireguard_ipv4_cidrs
    ipv6_cidr_blocks = var.wireguard_ipv6_cidrs
  }

  dynamic "ingress" {
    for_each = length(var.ssh_cidrs) > 0 ? [1] : []
    content {
      description = "SSH (two-step certificate delivery)"
      protocol    = "tcp"
      from_port   = 22
      to_port     = 22
      cidr_blocks = var.ssh_cidrs
    }
  }

  # Tunnels, the package download, the EC2 API and forwarded VPC traffic.
  egress {
    protocol         = "-1"
    from_port        = 0
    to_port          = 0
    cidr_blocks      = ["0.0.0.0/0"]
    ipv6_cidr_blocks = ["::/0"]
  }

  lifecycle {
    create_before_destroy = true
  }
}

# --- The instance ----------------------------------------------------------

resource "aws_eip" "this" {
  count  = var.create_eip ? 1 : 0
  domain = "vpc"
  tags   = local.tags
}

resource "aws_instance" "this" {
  ami                    = var.ami_id != null ? var.ami_id : data.aws_ami.debian.id
  instance_type          = var.instance_type
  subnet_id              = var.subnet_id
  vpc_security_group_ids = [aws_security_group.this.id]
  iam_instance_profile   = aws_iam_instance_profile.this.name
  key_name               = var.key_name
  # A router: it forwards packets that are neither from nor to itself.
  # vpcmesh turns it off too (and checks), but not before it runs.
  source_dest_check = false

  user_data = templatefile("${path.module}/../cloud-init.yaml", {
    deb_url           = var.deb_url
    gateway_name      = var.gateway_name
    overlay_address   = var.overlay_address
    listen_port       = var.listen_port
    public_endpoint   = local.public_endpoint
    mesh_name         = var.mesh_name
    overlay_range     = var.overlay_range
    mapped_pool       = var.mapped_pool
    join_json         = jsonencode(var.join)
    site_name         = var.site_name
    site_cidrs_json   = jsonencode(local.site_cidrs)
    export_project    = var.export_project
    export_cidr       = local.export_cidr
    route_tables_json = jsonencode(var.route_table_ids)
    join_tag          = var.join_tag
    root_pub          = trimspace(var.root_pub)
    wireguard_key_b64 = var.wireguard_key_b64
    signing_key_b64   = var.signing_key_b64
    certificate_b64   = var.certificate_b64
  })
  # cloud-init runs once per instance: a changed config needs a new one.
  # With keys generated on the instance (two-step) that means signing again.
  user_data_replace_on_change = true

  # vpcmesh finds the instance through IMDSv2 (token first).
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  root_block_device {
    encrypted = true
  }

  tags = merge(local.tags, local.join_tag)

  # The role must be able to read the package (s3://) at first boot.
  depends_on = [aws_iam_role_policy.vpcmesh]

  lifecycle {
    precondition {
      condition     = (var.wireguard_key_b64 == "") == (var.signing_key_b64 == "")
      error_message = "Give both wireguard_key_b64 and signing_key_b64, or neither (then the instance makes its own)."
    }
  }
}

resource "aws_eip_association" "this" {
  count         = var.create_eip ? 1 : 0
  allocation_id = aws_eip.this[0].id
  instance_id   = aws_instance.this.id
}
