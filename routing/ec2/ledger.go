package ec2

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/vpcmesh/vpcmesh/configs"
)

// LedgerFile is the record of the routes vpcmesh created, in the state
// directory. EC2 routes carry no tags, so without it vpcmesh could not tell
// its own routes from anyone else's after a restart.
const LedgerFile = "ec2-routes.json"

// ledger is that record. A route is recorded before it is created and
// forgotten after it is deleted, each time written through atomically, so
// a crash at any point leaves vpcmesh knowing at least every route it made.
type ledger struct {
	path   string
	mu     sync.Mutex
	routes map[TableRoute]bool
}

type ledgerDoc struct {
	Version int          `json:"version"`
	Routes  []TableRoute `json:"routes"`
}

func openLedger(dir string) (*ledger, error) {
	l := &ledger{path: filepath.Join(dir, LedgerFile), routes: map[TableRoute]bool{}}
	b, err := os.ReadFile(l.path)
	if errors.Is(err, fs.ErrNotExist) {
		return l, nil
	}
	if err != nil {
		return nil, err
	}
	var doc ledgerDoc
	if err := json.Unmarshal(b, &doc); err != nil || doc.Version != 1 {
		return nil, fmt.Errorf("%s is not a vpcmesh route record (version 1): %v; move it away to start afresh, and vpcmesh will leave the routes it made before alone", l.path, err)
	}
	for _, r := range doc.Routes {
		l.routes[r] = true
	}
	return l, nil
}

// owned is a copy of the record.
func (l *ledger) owned() map[TableRoute]bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.routes)
}

// set records (on) or forgets r, and writes the record if that changed it.
func (l *ledger) set(r TableRoute, on bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.routes[r] == on {
		return nil
	}
	if on {
		l.routes[r] = true
	} else {
		delete(l.routes, r)
	}
	return l.save()
}

func (l *ledger) save() error {
	doc := ledgerDoc{Version: 1, Routes: slices.SortedFunc(maps.Keys(l.routes), compareTableRoutes)}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	if err := configs.WriteStateFile(l.path, append(b, '\n')); err != nil {
		return fmt.Errorf("route record: %w", err)
	}
	return nil
}
