package configs

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dirNames lists a folder's entries.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

func TestWriteStateFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state") // made by the write
	path := filepath.Join(dir, "known-peers.json")
	for _, content := range []string{"first\n", "second, longer\n"} {
		if err := WriteStateFile(path, []byte(content)); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Fatalf("content %q, %v; want %q", got, err, content)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	if di, err := os.Stat(dir); err != nil || di.Mode().Perm() != 0o700 {
		t.Errorf("state folder made with mode %v (%v), want 0700", di.Mode().Perm(), err)
	}
	if names := dirNames(t, dir); len(names) != 1 {
		t.Errorf("folder holds %v, want the file alone", names)
	}
}

// A write that fails half way (the data written, the sync failing, as on a
// full or failing disk) leaves the previous file as it was and no
// temporary file.
func TestWriteStateFileFailsHalfWay(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "revocations.pem")
	if err := WriteStateFile(path, []byte("previous\n")); err != nil {
		t.Fatal(err)
	}
	broken := errors.New("disk on fire")
	syncFile = func(*os.File) error { return broken }
	t.Cleanup(func() { syncFile = (*os.File).Sync })

	err := WriteStateFile(path, []byte("new, never whole\n"))
	if !errors.Is(err, broken) || !strings.Contains(err.Error(), path) {
		t.Errorf("err = %v, want the sync's error naming %s", err, path)
	}
	if got, _ := os.ReadFile(path); string(got) != "previous\n" {
		t.Errorf("previous file now %q", got)
	}
	if names := dirNames(t, dir); len(names) != 1 {
		t.Errorf("folder holds %v, want the previous file alone", names)
	}
}

// A state folder that cannot be made (its parent is a file) is an error
// naming the file, and nothing is written.
func TestWriteStateFileParentIsAFile(t *testing.T) {
	dir := t.TempDir()
	parent := filepath.Join(dir, "not-a-folder")
	if err := os.WriteFile(parent, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(parent, "record-version")
	if err := WriteStateFile(path, []byte("1\n")); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("err = %v, want one naming %s", err, path)
	}
	if got, _ := os.ReadFile(parent); string(got) != "x" {
		t.Errorf("the file in the way now holds %q", got)
	}
	if names := dirNames(t, dir); len(names) != 1 {
		t.Errorf("folder holds %v", names)
	}
}

func TestSetAsideStateFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "record-version")
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	aside := SetAsideStateFile(log, path, errors.New("not a number"))
	if !strings.HasPrefix(aside, path+".broken-") {
		t.Fatalf("set aside to %q", aside)
	}
	if got, err := os.ReadFile(aside); err != nil || string(got) != "garbage" {
		t.Errorf("set-aside file: %q, %v", got, err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the file is still there: %v", err)
	}
	out := logs.String()
	if strings.Count(out, "\n") != 1 || !strings.Contains(out, path) || !strings.Contains(out, "not a number") || !strings.Contains(out, aside) {
		t.Errorf("want one line naming the file, the reason and where it went; got:\n%s", out)
	}
}
