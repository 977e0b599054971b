package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// mqgateBin is the mqgate binary TestMain builds; binErr is why it could
// not (the tests that need it fail with it).
var (
	mqgateBin string
	binErr    error
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	baseline := runtime.NumGoroutine()
	dir, err := os.MkdirTemp("", "mqgate-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	mqgateBin, binErr = buildBinary(dir)

	code := m.Run()
	if code == 0 {
		if err := checkGoroutines(baseline); err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
	}
	return code
}

// buildBinary builds the mqgate command into dir.
func buildBinary(dir string) (string, error) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(dir, "mqgate")
	cmd := exec.Command(goTool, "build", "-o", bin, "github.com/mqgate/mqgate")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build github.com/mqgate/mqgate: %v\n%s", err, out.String())
	}
	return bin, nil
}

// needBinary returns the built binary or fails t.
func needBinary(t *testing.T) string {
	t.Helper()
	if binErr != nil {
		t.Fatal(binErr)
	}
	return mqgateBin
}

// goroutineSlack is how many goroutines more than at start are tolerated
// once every test is done (runtime and testing helpers come and go).
const goroutineSlack = 4

// checkGoroutines waits for the goroutine count to settle back near the
// baseline, and reports the stacks if it does not: every broker, client
// and process a test started must be gone.
func checkGoroutines(baseline int) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= baseline+goroutineSlack {
			return nil
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			return fmt.Errorf("goroutine leak: %d goroutines at the end, %d at the start\n%s", n, baseline, buf)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
