package configs

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// State files are what a gateway keeps in node.state_dir across restarts
// (known peers, revocation lists, the EC2 route record, the record
// version). They are the gateway's own memory, not the operator's: every
// one is written by WriteStateFile, and one that cannot be used is set
// aside by SetAsideStateFile and the gateway goes on without it.

// syncFile is (*os.File).Sync; a test makes it fail to stop a write half
// way.
var syncFile = (*os.File).Sync

// WriteStateFile replaces path with data, mode 0600, so that a crash or a
// power cut at any point leaves either the old file or the new one whole:
// a temporary file in the same folder is written and synced, renamed over
// path, and the folder synced so that the rename itself is on disk. The
// folder is made (0700) if missing. On error the old file is untouched and
// no temporary file is left.
func WriteStateFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	err = writeSynced(tmp, data)
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("write %s: sync %s: %w", path, dir, err)
	}
	return nil
}

// writeSynced writes data to f, makes it 0600, syncs and closes it.
func writeSynced(f *os.File, data []byte) error {
	_, err := f.Write(data)
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = syncFile(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// SetAsideStateFile moves a state file that cannot be used (broken, or
// holding what no longer verifies) out of the way, to
// PATH.broken-UNIXTIME, and logs one line naming it and why: the gateway
// then goes on as if it were missing, the next start does not trip on it
// again, and it is kept for a look. It returns where the file went, or ""
// when it could not be moved (the line then says so).
func SetAsideStateFile(log *slog.Logger, path string, reason error) string {
	aside := fmt.Sprintf("%s.broken-%d", path, time.Now().Unix())
	if err := os.Rename(path, aside); err != nil {
		log.Warn("state file unusable, ignored; it could not be set aside", "file", path, "reason", reason, "err", err)
		return ""
	}
	log.Warn("state file unusable, set aside and ignored", "file", path, "reason", reason, "moved_to", aside)
	return aside
}
