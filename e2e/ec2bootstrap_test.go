package e2e

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// The EC2 bootstrap examples in docs/ec2: the cloud-init user data passes
// cloud-init's own schema check, the vpcmesh.toml it writes passes
// `vpcmesh check` (before and after its certificate is signed the way the
// file explains), and the terraform module fills exactly the file's
// placeholders and documents every variable. Needs neither root nor AWS;
// the schema check needs cloud-init (apt-get install cloud-init) and skips
// without it.

const (
	ec2CloudInit    = "../docs/ec2/cloud-init.yaml"
	ec2TerraformDir = "../docs/ec2/terraform"
	// EC2 refuses user data over 16 KB.
	ec2UserDataMax = 16384
)

// A placeholder as terraform's templatefile reads it.
var ec2Placeholder = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)\}`)

// Example values for every placeholder but the keys and the root, which
// each test makes.
func ec2SampleValues() map[string]string {
	return map[string]string{
		"deb_url":           "https://packages.example.com/vpcmesh_1.0.0-1_amd64.deb",
		"gateway_name":      "vpc-c-gw",
		"overlay_address":   "100.96.0.7",
		"listen_port":       "51820",
		"public_endpoint":   "203.0.113.27:51820",
		"mesh_name":         "acme",
		"overlay_range":     "100.96.0.0/16",
		"mapped_pool":       "100.100.0.0/16",
		"join_json":         `["203.0.113.20:51820"]`,
		"site_name":         "vpc-c",
		"site_cidrs_json":   `["10.7.0.0/24"]`,
		"export_project":    "alpha",
		"export_cidr":       "10.7.0.0/24",
		"route_tables_json": `["rtb-0123456789abcdef0"]`,
		"join_tag":          "vpcmesh=acme",
		"root_pub":          "",
		"wireguard_key_b64": "",
		"signing_key_b64":   "",
		"certificate_b64":   "",
	}
}

func readEC2CloudInit(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(ec2CloudInit)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// ec2Render fills the placeholders the way templatefile does; one without
// a value fails the test.
func ec2Render(t *testing.T, text string, values map[string]string) string {
	t.Helper()
	return ec2Placeholder.ReplaceAllStringFunc(text, func(m string) string {
		name := ec2Placeholder.FindStringSubmatch(m)[1]
		v, ok := values[name]
		if !ok {
			t.Errorf("placeholder %s has no value", m)
		}
		return v
	})
}

// ec2EmbeddedConfig returns the vpcmesh.toml between the BEGIN and END
// markers of the write_files entry, without the YAML block's indentation.
func ec2EmbeddedConfig(t *testing.T, text string) string {
	t.Helper()
	const begin, end = "# BEGIN vpcmesh.toml", "# END vpcmesh.toml"
	path := strings.Index(text, "path: /etc/vpcmesh/vpcmesh.toml")
	if path < 0 {
		t.Fatal("no write_files entry for /etc/vpcmesh/vpcmesh.toml")
	}
	var out []string
	indent, in, done := "", false, false
	for _, line := range strings.Split(text[path:], "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case !in && trimmed == begin:
			indent, in = line[:len(line)-len(strings.TrimLeft(line, " "))], true
			continue
		case !in:
			continue
		case trimmed == end:
			done = true
		case trimmed == "":
			out = append(out, "")
			continue
		case !strings.HasPrefix(line, indent):
			t.Fatalf("line %q of the embedded config is outside its block", line)
		}
		if done {
			break
		}
		out = append(out, strings.TrimPrefix(line, indent))
	}
	if !in || !done {
		t.Fatalf("%s: no %q ... %q in the vpcmesh.toml entry", ec2CloudInit, begin, end)
	}
	return strings.Join(out, "\n") + "\n"
}

func runVpcmesh(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(vpcmeshBin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("vpcmesh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// ec2Gateway is a gateway made as the user data makes it, in a temporary
// directory standing in for /etc/vpcmesh, with a mesh root beside it.
type ec2Gateway struct {
	etc, rootKey, config string
	values               map[string]string
}

// newEC2Gateway writes the embedded config (placeholders filled from
// values, /etc/vpcmesh/ and /var/lib/vpcmesh pointed into the temporary
// directory), root.pub as cloud-init writes it, and new keys.
func newEC2Gateway(t *testing.T, text string, values map[string]string) *ec2Gateway {
	t.Helper()
	dir := t.TempDir()
	g := &ec2Gateway{etc: filepath.Join(dir, "etc"), rootKey: filepath.Join(dir, "ca", "root.key"), values: values}
	runVpcmesh(t, "ca", "init", "--dir", filepath.Join(dir, "ca"))
	runVpcmesh(t, "keygen", "--dir", g.etc)
	pub, err := os.ReadFile(filepath.Join(dir, "ca", "root.pub"))
	if err != nil {
		t.Fatal(err)
	}
	values["root_pub"] = strings.TrimSpace(string(pub))
	// write_files content: "${root_pub}", no newline.
	if err := os.WriteFile(filepath.Join(g.etc, "root.pub"), []byte(values["root_pub"]), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := ec2Render(t, ec2EmbeddedConfig(t, text), values)
	cfg = strings.ReplaceAll(cfg, "/etc/vpcmesh/", g.etc+"/")
	cfg = strings.ReplaceAll(cfg, `"/var/lib/vpcmesh"`, `"`+filepath.Join(dir, "state")+`"`)
	if strings.Contains(cfg, "/etc/vpcmesh") || strings.Contains(cfg, "/var/lib/vpcmesh") {
		t.Fatalf("embedded config names a path the test does not redirect:\n%s", cfg)
	}
	g.config = filepath.Join(g.etc, "vpcmesh.toml")
	if err := os.WriteFile(g.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return g
}

// sign is the two-step's offline half, as the file's header gives it: sign
// from the config and the two public keys, then put the certificate in
// place whole.
// inline puts the gateway's keys and certificate crt into the user data's
// values, base64, as the pre-generated way delivers them, and returns each
// file's bytes by its name.
func (g *ec2Gateway) inline(t *testing.T, crt string, values map[string]string) map[string]string {
	t.Helper()
	given := map[string]string{}
	for name, file := range map[string]string{
		"wireguard_key_b64": filepath.Join(g.etc, "wireguard.key"),
		"signing_key_b64":   filepath.Join(g.etc, "signing.key"),
		"certificate_b64":   crt,
	} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		values[name] = base64.StdEncoding.EncodeToString(b)
		given[filepath.Base(file)] = string(b)
	}
	return given
}

func (g *ec2Gateway) sign(t *testing.T) string {
	t.Helper()
	crt := filepath.Join(g.etc, "gateway.crt")
	runVpcmesh(t, "ca", "sign", "--root-key", g.rootKey, "-c", g.config,
		"--wireguard-pub", filepath.Join(g.etc, "wireguard.pub"),
		"--signing-pub", filepath.Join(g.etc, "signing.pub"),
		"-o", crt+".new")
	if err := os.Rename(crt+".new", crt); err != nil {
		t.Fatal(err)
	}
	runVpcmesh(t, "ca", "show", crt, "--root", filepath.Join(g.etc, "root.pub"))
	return crt
}

func TestEC2BootstrapConfig(t *testing.T) {
	text := readEC2CloudInit(t)

	t.Run("two-step", func(t *testing.T) {
		g := newEC2Gateway(t, text, ec2SampleValues())
		// cloud-init runs check before the certificate is there.
		runVpcmesh(t, "check", "-c", g.config)
		g.sign(t)
		runVpcmesh(t, "check", "-c", g.config)
	})

	t.Run("no-elastic-ip", func(t *testing.T) {
		// terraform with create_eip = false: public_endpoint stays empty
		// unless the instance has a public IPv4.
		values := ec2SampleValues()
		values["public_endpoint"] = ""
		g := newEC2Gateway(t, text, values)
		runVpcmesh(t, "check", "-c", g.config)
		g.sign(t)
		runVpcmesh(t, "check", "-c", g.config)
	})

	t.Run("pre-generated-fits-user-data", func(t *testing.T) {
		// The largest user data: keys and certificate inline, base64.
		values := ec2SampleValues()
		g := newEC2Gateway(t, text, values)
		g.inline(t, g.sign(t), values)
		if n := len(ec2Render(t, text, values)); n > ec2UserDataMax {
			t.Errorf("rendered user data is %d bytes; EC2 takes at most %d", n, ec2UserDataMax)
		} else {
			t.Logf("rendered user data with keys and certificate: %d bytes (limit %d)", n, ec2UserDataMax)
		}
	})
}

// cloudInitSchema runs cloud-init's schema check on file: `cloud-init
// schema`, or `cloud-init devel schema` on versions that keep it there.
func cloudInitSchema(t *testing.T, file string) {
	t.Helper()
	var out []byte
	var err error
	for _, args := range [][]string{{"schema"}, {"devel", "schema"}} {
		out, err = exec.Command("cloud-init", append(args, "--config-file", file)...).CombinedOutput()
		if !strings.Contains(string(out), "invalid choice") {
			break
		}
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("cloud-init schema: %v", err)
	}
	if err != nil || !strings.Contains(string(out), "Valid cloud-config") {
		t.Errorf("cloud-init schema --config-file %s: %v\n%s", file, err, out)
	}
}

func TestEC2BootstrapCloudInitSchema(t *testing.T) {
	if _, err := exec.LookPath("cloud-init"); err != nil {
		t.Skip("cloud-init is not installed (apt-get install cloud-init)")
	}
	text := readEC2CloudInit(t)

	// The file as shipped, placeholders and all.
	cloudInitSchema(t, ec2CloudInit)

	// As terraform renders it: two-step, and with keys given.
	dir := t.TempDir()
	values := ec2SampleValues()
	values["root_pub"] = "98IUUw9xe7zIECN9VMnQ6Xh+uqDg6bctLgNhR8Mm0QM="
	twoStep := filepath.Join(dir, "two-step.yaml")
	if err := os.WriteFile(twoStep, []byte(ec2Render(t, text, values)), 0o600); err != nil {
		t.Fatal(err)
	}
	cloudInitSchema(t, twoStep)
	values["public_endpoint"] = ""
	values["wireguard_key_b64"] = base64.StdEncoding.EncodeToString([]byte("Y8dcdqoL+1nawIgh7ZGb/qbxjmMMAB4mJLc1qRTYyaI=\n"))
	values["signing_key_b64"] = values["wireguard_key_b64"]
	values["certificate_b64"] = base64.StdEncoding.EncodeToString([]byte("-----BEGIN VPCMESH CERTIFICATE-----\nAAAA\n-----END VPCMESH CERTIFICATE-----\n"))
	given := filepath.Join(dir, "given.yaml")
	if err := os.WriteFile(given, []byte(ec2Render(t, text, values)), 0o600); err != nil {
		t.Fatal(err)
	}
	cloudInitSchema(t, given)
}

// The terraform module cannot be planned here (no terraform, no AWS); this
// holds it to the cloud-init file and its README as text.
func TestEC2BootstrapTerraformMatchesTemplate(t *testing.T) {
	text := readEC2CloudInit(t)
	if strings.Contains(text, "%{") {
		t.Errorf("%s has %%{, which templatefile reads as a directive", ec2CloudInit)
	}
	if a, b := strings.Count(text, "${"), len(ec2Placeholder.FindAllString(text, -1)); a != b {
		t.Errorf("%s: %d ${ but %d placeholders: templatefile would read the others as expressions (write $${ or $NAME)", ec2CloudInit, a, b)
	}
	var placeholders []string
	for _, m := range ec2Placeholder.FindAllStringSubmatch(text, -1) {
		if !slices.Contains(placeholders, m[1]) {
			placeholders = append(placeholders, m[1])
		}
	}
	sort.Strings(placeholders)
	var sample []string
	for k := range ec2SampleValues() {
		sample = append(sample, k)
	}
	sort.Strings(sample)
	if !slices.Equal(placeholders, sample) {
		t.Errorf("placeholders in %s: %v; this test knows %v", ec2CloudInit, placeholders, sample)
	}

	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(ec2TerraformDir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	mainTF, variablesTF, outputsTF, readme := read("main.tf"), read("variables.tf"), read("outputs.tf"), read("README.md")

	// The templatefile call's map: exactly the placeholders.
	start := strings.Index(mainTF, `templatefile("${path.module}/../cloud-init.yaml", {`)
	if start < 0 {
		t.Fatal("main.tf: no templatefile call on ../cloud-init.yaml")
	}
	body := mainTF[start:]
	body = body[strings.Index(body, "{")+1 : strings.Index(body, "})")]
	var keys []string
	for _, m := range regexp.MustCompile(`(?m)^\s*([a-z0-9_]+)\s*=`).FindAllStringSubmatch(body, -1) {
		keys = append(keys, m[1])
	}
	sort.Strings(keys)
	if !slices.Equal(keys, placeholders) {
		t.Errorf("templatefile passes %v; %s has placeholders %v", keys, ec2CloudInit, placeholders)
	}

	// Every variable declared, used and documented; nothing undeclared used.
	var declared []string
	for _, m := range regexp.MustCompile(`(?m)^variable "([a-z0-9_]+)"`).FindAllStringSubmatch(variablesTF, -1) {
		declared = append(declared, m[1])
	}
	uses := regexp.MustCompile(`\bvar\.([a-z0-9_]+)`)
	used := map[string]bool{}
	for _, src := range []string{mainTF, outputsTF, variablesTF} {
		for _, m := range uses.FindAllStringSubmatch(src, -1) {
			used[m[1]] = true
		}
	}
	for v := range used {
		if !slices.Contains(declared, v) {
			t.Errorf("var.%s is used but not declared in variables.tf", v)
		}
	}
	for _, v := range declared {
		if !used[v] {
			t.Errorf("variable %q is declared but not used", v)
		}
		if !strings.Contains(readme, "| `"+v+"` |") {
			t.Errorf("variable %q is not documented in the README's table", v)
		}
	}

	// The policy: every action of configs/examples/ec2-iam-policy.json.
	policy, err := os.ReadFile("../configs/examples/ec2-iam-policy.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`"ec2:[A-Za-z]+"`).FindAllString(string(policy), -1) {
		if m == `"ec2:Vpc"` {
			continue
		}
		if !strings.Contains(mainTF, m) {
			t.Errorf("main.tf's policy lacks %s (configs/examples/ec2-iam-policy.json)", m)
		}
	}
}

// The user data's runcmd, run for real by sh in a temporary root: write_files
// and every /etc, /run and /root path point into it, and apt-get, aws,
// curl (IMDS too), sysctl and systemctl are stubs that log their
// arguments. apt-get "installs" the vpcmesh built for the tests. Needs
// python3 with PyYAML (a dependency of cloud-init) to read the YAML; skips
// without them.
func TestEC2BootstrapRuncmd(t *testing.T) {
	text := readEC2CloudInit(t)
	if _, err := exec.Command("python3", "-c", "import yaml").CombinedOutput(); err != nil {
		t.Skip("python3 with PyYAML is not installed (apt-get install cloud-init brings both)")
	}

	t.Run("two-step", func(t *testing.T) {
		values := ec2SampleValues()
		values["root_pub"] = "98IUUw9xe7zIECN9VMnQ6Xh+uqDg6bctLgNhR8Mm0QM="
		values["public_endpoint"] = "" // no Elastic IP: IMDS gives it
		fs, out, log := runEC2Userdata(t, ec2Render(t, text, values))
		etc := filepath.Join(fs, "etc", "vpcmesh")
		for _, f := range []string{"wireguard.key", "signing.key"} {
			st, err := os.Stat(filepath.Join(etc, f))
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Errorf("%s: %v, %v; want a 0600 file made by keygen", f, st, err)
			}
		}
		for _, f := range []string{"wireguard.pub", "signing.pub"} {
			pub, err := os.ReadFile(filepath.Join(etc, f))
			if err != nil {
				t.Fatal(err)
			}
			if line := f + " " + strings.TrimSpace(string(pub)); !strings.Contains(out, line) {
				t.Errorf("output lacks %q for the console:\n%s", line, out)
			}
		}
		if _, err := os.Stat(filepath.Join(etc, "gateway.crt")); err == nil {
			t.Error("gateway.crt exists though none was given")
		}
		cfg, err := os.ReadFile(filepath.Join(etc, "vpcmesh.toml"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(cfg), `public_endpoint = "198.51.100.7:51820"`) {
			t.Errorf("public_endpoint not filled in from IMDS:\n%s", cfg)
		}
		if !strings.Contains(log, "curl -fsSL --retry 5 --retry-connrefused -o ") {
			t.Errorf("the https package was not fetched with curl:\n%s", log)
		}
	})

	t.Run("pre-generated", func(t *testing.T) {
		values := ec2SampleValues()
		values["deb_url"] = "s3://bucket/vpcmesh.deb"
		g := newEC2Gateway(t, text, values)
		given := g.inline(t, g.sign(t), values)
		fs, _, log := runEC2Userdata(t, ec2Render(t, text, values))
		etc := filepath.Join(fs, "etc", "vpcmesh")
		for f, want := range given {
			got, err := os.ReadFile(filepath.Join(etc, f))
			if err != nil || string(got) != want {
				t.Errorf("%s: not the one given (%v)", f, err)
			}
		}
		if _, err := os.Stat(filepath.Join(etc, "wireguard.pub")); err == nil {
			t.Error("keygen ran though keys were given")
		}
		runVpcmesh(t, "ca", "show", filepath.Join(etc, "gateway.crt"), "--root", filepath.Join(etc, "root.pub"))
		if !strings.Contains(log, "aws s3 cp --only-show-errors s3://bucket/vpcmesh.deb ") {
			t.Errorf("the s3 package was not fetched with the AWS CLI:\n%s", log)
		}
		if strings.Contains(log, "169.254.169.254") || strings.Contains(log, "imds") {
			t.Errorf("IMDS asked though public_endpoint was given:\n%s", log)
		}
	})
}

// runEC2Userdata applies rendered user data's write_files and runs its
// runcmd in a temporary root; it returns the root, the script's output and
// the stubs' log.
func runEC2Userdata(t *testing.T, userData string) (fs, out, log string) {
	t.Helper()
	dir := t.TempDir()
	fs, bin, logFile := filepath.Join(dir, "fs"), filepath.Join(dir, "bin"), filepath.Join(dir, "log")
	for _, d := range []string{filepath.Join(fs, "root"), bin} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	conv := exec.Command("python3", "-c", "import sys, json, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)")
	conv.Stdin = strings.NewReader(userData)
	js, err := conv.Output()
	if err != nil {
		t.Fatalf("YAML → JSON: %v", err)
	}
	var doc struct {
		WriteFiles []struct {
			Path, Content, Encoding, Permissions string
		} `json:"write_files"`
		Runcmd []any `json:"runcmd"`
	}
	if err := json.Unmarshal(js, &doc); err != nil {
		t.Fatal(err)
	}
	rootPath := regexp.MustCompile(`([\s"])/root\b`)
	paths := strings.NewReplacer("/etc/", fs+"/etc/", "/run/", fs+"/run/", "http://169.254.169.254", "http://imds")
	redirect := func(s string) string { return paths.Replace(rootPath.ReplaceAllString(s, "${1}"+fs+"/root")) }

	for _, w := range doc.WriteFiles {
		data := []byte(w.Content)
		if w.Encoding == "b64" {
			if data, err = base64.StdEncoding.DecodeString(w.Content); err != nil {
				t.Fatalf("%s: %v", w.Path, err)
			}
		}
		mode, err := strconv.ParseUint(w.Permissions, 8, 32)
		if err != nil {
			t.Fatalf("%s: permissions %q: %v", w.Path, w.Permissions, err)
		}
		p := redirect(w.Path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, os.FileMode(mode)); err != nil {
			t.Fatal(err)
		}
	}
	script := "#!/bin/sh\n"
	for _, c := range doc.Runcmd {
		s, ok := c.(string)
		if !ok {
			t.Fatalf("runcmd item %v is not a string; this test runs strings only", c)
		}
		script += redirect(s) + "\n"
	}

	stubs := map[string]string{
		"apt-get":   `case "$*" in *vpcmesh.deb*) cp "$VPCMESH" "$STUBS/vpcmesh" ;; esac`,
		"aws":       `for a; do last=$a; done; echo deb > "$last"`,
		"sysctl":    ``,
		"systemctl": ``,
		"curl": `case "$*" in
*api/token*) echo TOKEN ;;
*public-ipv4*) echo 198.51.100.7 ;;
*) while [ $# -gt 0 ]; do [ "$1" = -o ] && echo deb > "$2"; shift; done ;;
esac`,
	}
	for name, body := range stubs {
		stub := "#!/bin/sh\necho \"" + name + " $*\" >> \"$STUBLOG\"\n" + body + "\n"
		if err := os.WriteFile(filepath.Join(bin, name), []byte(stub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("sh", "-c", script)
	cmd.Env = append(os.Environ(), "PATH="+bin+":/usr/bin:/bin", "STUBS="+bin, "STUBLOG="+logFile, "VPCMESH="+vpcmeshBin)
	o, err := cmd.CombinedOutput()
	l, _ := os.ReadFile(logFile)
	if err != nil {
		t.Fatalf("runcmd: %v\n%s\nstubs:\n%s\nscript:\n%s", err, o, l, script)
	}
	out, log = string(o), string(l)

	// What every run must leave: the config checked, secrets staged in /run
	// gone, /etc/vpcmesh 0700, the package installed and the unit enabled
	// and started last.
	if !strings.Contains(out, "vpcmesh.toml: ok") {
		t.Errorf("vpcmesh check did not pass:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(fs, "run", "vpcmesh-bootstrap")); !os.IsNotExist(err) {
		t.Errorf("/run/vpcmesh-bootstrap is still there (%v)", err)
	}
	if st, err := os.Stat(filepath.Join(fs, "etc", "vpcmesh")); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("/etc/vpcmesh: %v, %v; want 0700", st, err)
	}
	lines := strings.Split(strings.TrimSpace(log), "\n")
	if !slices.Contains(lines, "apt-get install -y ./vpcmesh.deb") {
		t.Errorf("the package was not installed:\n%s", log)
	}
	if lines[len(lines)-1] != "systemctl enable --now vpcmesh" {
		t.Errorf("the last step is not systemctl enable --now vpcmesh:\n%s", log)
	}
	return fs, out, log
}
