# Inputs of the vpcmesh EC2 gateway module. Every one is described in
# README.md next to this file.

# --- Where ---------------------------------------------------------------

variable "region" {
  description = "AWS region; null takes it from the environment (AWS_REGION, the profile)."
  type        = string
  default     = null
}

variable "subnet_id" {
  description = "Public subnet for the gateway (a route to an internet gateway). Its VPC is the one the IAM policy is scoped to."
  type        = string
}

variable "instance_type" {
  description = "EC2 instance type."
  type        = string
  default     = "t3.small"
}

variable "ami_id" {
  description = "AMI to use instead of the newest official Debian 12 amd64 image."
  type        = string
  default     = null
}

variable "key_name" {
  description = "EC2 key pair for SSH (to put the certificate back in the two-step way); null: none."
  type        = string
  default     = null
}

variable "ssh_cidrs" {
  description = "IPv4 CIDRs allowed to SSH (TCP 22); empty: no SSH rule."
  type        = list(string)
  default     = []
}

variable "create_eip" {
  description = "Give the gateway an Elastic IP; its address becomes node.public_endpoint."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags for every resource made here."
  type        = map(string)
  default     = {}
}

# --- The package ---------------------------------------------------------

variable "deb_url" {
  description = "Where the instance fetches the vpcmesh .deb (systemd/package.sh): https://... or s3://BUCKET/KEY."
  type        = string

  validation {
    condition     = can(regex("^(https?://|s3://[^/]+/.+)", var.deb_url))
    error_message = "deb_url must be an http(s):// URL or s3://BUCKET/KEY."
  }
}

# --- The WireGuard port --------------------------------------------------

variable "listen_port" {
  description = "WireGuard UDP port (node.listen_port), opened in the security group."
  type        = number
  default     = 51820
}

variable "wireguard_ipv4_cidrs" {
  description = "IPv4 sources allowed to the WireGuard port."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "wireguard_ipv6_cidrs" {
  description = "IPv6 sources allowed to the WireGuard port."
  type        = list(string)
  default     = ["::/0"]
}

# --- The gateway's config (/etc/vpcmesh/vpcmesh.toml) --------------------

variable "gateway_name" {
  description = "node.name, also the Name tag and the prefix of the IAM role and security group names."
  type        = string
}

variable "overlay_address" {
  description = "node.overlay_address: this gateway's address inside mesh.overlay_range."
  type        = string
}

variable "mesh_name" {
  description = "mesh.name."
  type        = string
}

variable "overlay_range" {
  description = "mesh.overlay_range."
  type        = string
  default     = "100.96.0.0/16"
}

variable "mapped_pool" {
  description = "mesh.mapped_pool."
  type        = string
  default     = "100.100.0.0/16"
}

variable "join" {
  description = "mesh.join: addresses (host:port) of gateways already in the mesh; empty for the first one."
  type        = list(string)
  default     = []
}

variable "join_tag" {
  description = "ec2.join_tag (key=value): running instances with it are join candidates. This instance is tagged with it too; empty: none."
  type        = string
  default     = ""

  validation {
    condition     = var.join_tag == "" || can(regex("^[^=]+=.*$", var.join_tag))
    error_message = "join_tag must be empty or key=value."
  }
}

variable "site_name" {
  description = "Name of the [[site]] behind this gateway (the VPC)."
  type        = string
}

variable "site_cidrs" {
  description = "The site's cidrs; null: the VPC's primary CIDR block."
  type        = list(string)
  default     = null
}

variable "export_project" {
  description = "Project the site is exported to ([[site.export]] project)."
  type        = string
}

variable "export_cidr" {
  description = "The exported CIDR; null: the first of the site's cidrs."
  type        = string
  default     = null
}

variable "route_table_ids" {
  description = "ec2.route_tables: VPC route tables that get a route to every remote prefix. The IAM policy allows route changes on these only."
  type        = list(string)
  default     = []
}

# --- Trust ---------------------------------------------------------------

variable "root_pub" {
  description = "The one line of the mesh's root.pub (vpcmesh ca init)."
  type        = string
}

variable "wireguard_key_b64" {
  description = "Pre-generated wireguard.key, base64; empty: generated on the instance (two-step)."
  type        = string
  default     = ""
  sensitive   = true
}

variable "signing_key_b64" {
  description = "Pre-generated signing.key, base64; empty: generated on the instance (two-step)."
  type        = string
  default     = ""
  sensitive   = true
}

variable "certificate_b64" {
  description = "gateway.crt signed offline for this config and keys, base64; empty: the gateway waits for it."
  type        = string
  default     = ""
}
