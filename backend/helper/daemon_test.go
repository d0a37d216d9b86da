package helper

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRunDaemon(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "d.sock")
	var mu sync.Mutex
	var logs []string
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- RunDaemon(ctx, DaemonConfig{Socket: sock, AllowUIDs: []uint32{uint32(os.Getuid())}, Logf: func(f string, a ...any) {
			mu.Lock()
			logs = append(logs, f)
			mu.Unlock()
		}})
	}()
	var st Status
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := Dial(ctxT(t), sock)
		if err == nil {
			st, err = c.Status(ctxT(t))
			c.Close()
			if err != nil {
				t.Fatal(err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon never answered: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st.Protocol != ProtocolVersion || st.Powermetrics != PowermetricsPath || st.Running {
		t.Errorf("status = %+v", st)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("RunDaemon: %v", err)
	}
	if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left after shutdown: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(strings.Join(logs, "\n"), "listening on") {
		t.Errorf("logs: %q", logs)
	}
}
