package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// reflectType returns the dynamic type of v.
func reflectType(v any) reflect.Type { return reflect.TypeOf(v) }

// writeFile writes content to a file called name in a new temporary
// directory and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// env returns a lookupEnv over vars, standing in for the process
// environment so tests run in parallel.
func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

// noEnv is an empty environment.
var noEnv = env(nil)

// parseFlags returns a FlagSet with every config flag, parsed from args.
func parseFlags(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	return fs
}

// mustLoad loads and fails the test on error.
func mustLoad(t *testing.T, path string, fs *pflag.FlagSet, lookup func(string) (string, bool)) *Config {
	t.Helper()
	c, err := load(path, fs, lookup)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return c
}

// errorLines returns the lines of err's message.
func errorLines(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

func TestLoadNothing(t *testing.T) {
	t.Parallel()
	got := mustLoad(t, "", nil, noEnv)
	if want := Default(); !reflect.DeepEqual(got, want) {
		t.Fatalf("load with no sources =\n%+v\nwant\n%+v", got, want)
	}
	got = mustLoad(t, "", parseFlags(t), noEnv)
	if want := Default(); !reflect.DeepEqual(got, want) {
		t.Fatalf("load with unset flags =\n%+v\nwant\n%+v", got, want)
	}
}

func TestLoadFileFormats(t *testing.T) {
	t.Parallel()
	files := map[string]string{
		"c.yaml": `
node:
  id: n1
stomp:
  listen: "127.0.0.1:0"
  max_frame_size: 1MiB
  max_headers: 50
  heartbeat_min: 0
  connect_timeout: 2s
store:
  type: disk
  disk:
    fsync: interval
    fsync_interval: 250ms
    segment_size: 1048576
`,
		"c.yml": `
node: {id: n1}
stomp: {listen: "127.0.0.1:0", max_frame_size: 1MiB, max_headers: 50, heartbeat_min: 0s, connect_timeout: 2s}
store: {type: disk, disk: {fsync: interval, fsync_interval: 250ms, segment_size: 1MiB}}
`,
		"c.toml": `
[node]
id = "n1"
[stomp]
listen = "127.0.0.1:0"
max_frame_size = "1MiB"
max_headers = 50
heartbeat_min = "0s"
connect_timeout = "2s"
[store]
type = "disk"
[store.disk]
fsync = "interval"
fsync_interval = "250ms"
segment_size = 1048576
`,
		"c.json": `{
  "node": {"id": "n1"},
  "stomp": {"listen": "127.0.0.1:0", "max_frame_size": "1MiB", "max_headers": 50,
            "heartbeat_min": "0s", "connect_timeout": "2s"},
  "store": {"type": "disk", "disk": {"fsync": "interval", "fsync_interval": "250ms", "segment_size": 1048576}}
}`,
		"C.JSON": `{"node": {"id": "n1"}, "stomp": {"listen": "127.0.0.1:0", "max_frame_size": 1048576,
  "max_headers": 50, "heartbeat_min": 0, "connect_timeout": "2s"},
  "store": {"type": "disk", "disk": {"fsync": "interval", "fsync_interval": "250ms", "segment_size": "1MiB"}}}`,
	}
	want := Default()
	want.Node.ID = "n1"
	want.STOMP.Listen = "127.0.0.1:0"
	want.STOMP.MaxFrameSize = MiB
	want.STOMP.MaxHeaders = 50
	want.STOMP.HeartbeatMin = 0
	want.STOMP.ConnectTimeout = 2 * time.Second
	want.Store.Type = StoreDisk
	want.Store.Disk.Fsync = FsyncInterval
	want.Store.Disk.FsyncInterval = 250 * time.Millisecond
	want.Store.Disk.SegmentSize = MiB
	for name, content := range files {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := mustLoad(t, writeFile(t, name, content), nil, noEnv)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

func TestLoadCaseInsensitiveAndNull(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "c.yaml", `
STOMP:
  Max_Headers: 7
  listen:
store:
  disk:
`)
	c := mustLoad(t, path, nil, noEnv)
	if c.STOMP.MaxHeaders != 7 {
		t.Errorf("max_headers = %d, want 7", c.STOMP.MaxHeaders)
	}
	if c.STOMP.Listen != ":61613" {
		t.Errorf("listen with no value = %q, want the default", c.STOMP.Listen)
	}
}

func TestPrecedence(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "c.yaml", `
stomp:
  listen: "127.0.0.1:1001"
  prefetch: 11
log:
  level: debug
`)
	envVars := env(map[string]string{
		"MQGATE_STOMP_LISTEN":     "127.0.0.1:1002",
		"MQGATE_STOMP_PREFETCH":   "22",
		"MQGATE_STORE_DISK_FSYNC": "never",
	})
	cases := []struct {
		name     string
		file     string
		env      func(string) (string, bool)
		args     []string
		listen   string
		prefetch int
		level    string
		fsync    string
	}{
		{"defaults", "", noEnv, nil, ":61613", 1000, "info", "always"},
		{"file over default", file, noEnv, nil, "127.0.0.1:1001", 11, "debug", "always"},
		{"env over file", file, envVars, nil, "127.0.0.1:1002", 22, "debug", "never"},
		{"env over default", "", envVars, nil, "127.0.0.1:1002", 22, "info", "never"},
		{"flag over env", file, envVars, []string{"--stomp-listen=127.0.0.1:1003", "--log-level", "warn"},
			"127.0.0.1:1003", 22, "warn", "never"},
		{"flag over file", file, noEnv, []string{"--stomp-prefetch=33"}, "127.0.0.1:1001", 33, "debug", "always"},
		{"flag set to its default still wins", file, envVars, []string{"--stomp-prefetch=1000", "--store-disk-fsync=always"},
			"127.0.0.1:1002", 1000, "debug", "always"},
		{"unset flags override nothing", file, envVars, []string{"--admin-listen=:9999"},
			"127.0.0.1:1002", 22, "debug", "never"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := mustLoad(t, tc.file, parseFlags(t, tc.args...), tc.env)
			if c.STOMP.Listen != tc.listen || c.STOMP.Prefetch != tc.prefetch ||
				c.Log.Level != tc.level || c.Store.Disk.Fsync != tc.fsync {
				t.Fatalf("listen, prefetch, level, fsync = %q, %d, %q, %q; want %q, %d, %q, %q",
					c.STOMP.Listen, c.STOMP.Prefetch, c.Log.Level, c.Store.Disk.Fsync,
					tc.listen, tc.prefetch, tc.level, tc.fsync)
			}
		})
	}
}

func TestEnvEmptyCounts(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, "", nil, env(map[string]string{"MQGATE_STOMP_LISTEN": "", "MQGATE_ADMIN_LISTEN": ""}))
	if c.STOMP.Listen != "" || c.Admin.Listen != "" {
		t.Fatalf("empty env vars should disable the listeners: %q, %q", c.STOMP.Listen, c.Admin.Listen)
	}
}

func TestFlagsFromOtherSources(t *testing.T) {
	t.Parallel()
	// A FlagSet without our flags, or with only some, is fine.
	fs := pflag.NewFlagSet("other", pflag.ContinueOnError)
	fs.String("config", "", "")
	fs.Int("stomp-prefetch", 0, "")
	if err := fs.Parse([]string{"--config=x", "--stomp-prefetch=5"}); err != nil {
		t.Fatal(err)
	}
	c := mustLoad(t, "", fs, noEnv)
	if c.STOMP.Prefetch != 5 {
		t.Fatalf("prefetch = %d, want 5", c.STOMP.Prefetch)
	}
}

func TestSizesAndDurationsFromEachSource(t *testing.T) {
	t.Parallel()
	type want struct {
		frame ByteSize
		hb    time.Duration
	}
	cases := []struct {
		name string
		file string
		env  map[string]string
		args []string
		want want
	}{
		{"yaml strings", "stomp: {max_frame_size: 512KB, heartbeat_min: 500ms}", nil, nil, want{512 * KB, 500 * time.Millisecond}},
		{"yaml number", "stomp: {max_frame_size: 1048576, heartbeat_min: 0}", nil, nil, want{MiB, 0}},
		{"env", "", map[string]string{"MQGATE_STOMP_MAX_FRAME_SIZE": "1GiB", "MQGATE_STOMP_HEARTBEAT_MIN": "1m30s"}, nil,
			want{GiB, 90 * time.Second}},
		{"env bytes", "", map[string]string{"MQGATE_STOMP_MAX_FRAME_SIZE": "2048"}, nil, want{2 * KiB, time.Second}},
		{"flags", "", nil, []string{"--stomp-max-frame-size", "2MiB", "--stomp-heartbeat-min=250ms"},
			want{2 * MiB, 250 * time.Millisecond}},
		{"flag bytes", "", nil, []string{"--stomp-max-frame-size=1500"}, want{1500, time.Second}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := ""
			if tc.file != "" {
				path = writeFile(t, "c.yaml", tc.file)
			}
			c := mustLoad(t, path, parseFlags(t, tc.args...), env(tc.env))
			if got := (want{c.STOMP.MaxFrameSize, c.STOMP.HeartbeatMin}); got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestBadFlagValueIsAParseError(t *testing.T) {
	t.Parallel()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	fs.SetOutput(&strings.Builder{})
	RegisterFlags(fs)
	for _, arg := range []string{"--stomp-max-frame-size=64M", "--shutdown-timeout=10", "--stomp-prefetch=x"} {
		if err := fs.Parse([]string{arg}); err == nil {
			t.Errorf("parse %s: no error", arg)
		}
	}
}

func TestUnknownKeys(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, file string
		want       []string
	}{
		{"typo", "stomp: {max_frame: 1MiB}",
			[]string{"stomp.max_frame: unknown key; did you mean stomp.max_frame_size? (from file "}},
		{"dashes", "stomp: {max-frame-size: 1MiB}",
			[]string{"stomp.max-frame-size: unknown key; did you mean stomp.max_frame_size?"}},
		{"no suggestion", "stomp: {colour: blue}", []string{"stomp.colour: unknown key (from file "}},
		{"wrong section", "listen: ':1'",
			[]string{"listen: unknown key; did you mean stomp.listen, amqp.listen or admin.listen?"}},
		{"misplaced", "store: {fsync: never}",
			[]string{"store.fsync: unknown key; did you mean store.disk.fsync?"}},
		{"section typo", "storage: {type: disk}", []string{"storage: unknown key; did you mean store?"}},
		{"nested unknown", "stomp: {extra: {a: 1, b: 2}}", []string{"stomp.extra: unknown key"}},
		{"section as value", "store: disk",
			[]string{`store: "disk" is a value, but store is a section; set the keys under it, such as store.type`}},
		{"subsection as value", "store: {disk: 5}",
			[]string{`store.disk: 5 is a value, but store.disk is a section; set the keys under it, such as store.disk.fsync`}},
		{"prefix", "stomp: {heartbeat: 1s}", []string{"stomp.heartbeat: unknown key; did you mean stomp.heartbeat_min?"}},
		{"value as section", "stomp: {listen: {a: 1}}",
			[]string{"stomp.listen: is a section, but a single value is expected here"}},
		{"list as value", "log: {level: [info]}", []string{"log.level: is a list, but a single value is expected here"}},
		{"two at once", "nodes: {id: x}\nshutdown: {timout: 1s}",
			[]string{"nodes: unknown key; did you mean node?", "shutdown.timout: unknown key; did you mean shutdown.timeout?"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := load(writeFile(t, "c.yaml", tc.file), nil, noEnv)
			lines := errorLines(err)
			if len(lines) != len(tc.want) {
				t.Fatalf("error = %v; want %d lines", err, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("line %d = %q, want prefix %q", i, lines[i], w)
				}
			}
		})
	}
}

func TestUnknownKeysInTOMLAndJSON(t *testing.T) {
	t.Parallel()
	for name, content := range map[string]string{
		"c.toml": "[stomp]\nlistn = \":1\"\n",
		"c.json": `{"stomp": {"listn": ":1"}}`,
	} {
		_, err := load(writeFile(t, name, content), nil, noEnv)
		if err == nil || !strings.Contains(err.Error(), "stomp.listn: unknown key; did you mean stomp.listen?") {
			t.Errorf("%s: error = %v", name, err)
		}
	}
}

func TestManyBadValuesAtOnce(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "bad.yaml", `
bogus: 1
stomp:
  max_headers: 0
  max_frame_size: 64M
store:
  type: foo
  disk:
    fsync_interval: 10
log:
  level: loud
`)
	lookup := env(map[string]string{
		"MQGATE_SHUTDOWN_TIMEOUT": "0s",
		"MQGATE_STOMP_PREFETCH":   "lots",
	})
	fs := parseFlags(t, "--broker-max-redeliveries=-2", "--amqp-listen=5672")
	_, err := load(path, fs, lookup)
	want := []string{
		`bogus: unknown key (from file ` + path + `)`,
		`stomp.max_frame_size: "64M" is not a size; write a whole number of bytes with an optional unit B, KB, MB, GB, TB, PB, KiB, MiB, GiB, TiB or PiB (e.g. "64MiB") (from file ` + path + `)`,
		`stomp.max_headers: 0 is out of range; use 1 to 100000 (from file ` + path + `)`,
		`stomp.prefetch: "lots" is not a whole number (from MQGATE_STOMP_PREFETCH)`,
		`amqp.listen: "5672" is not a listen address: missing port in address; write host:port, such as ":61613" or "127.0.0.1:61613", or "" to disable (from --amqp-listen)`,
		`store.type: "foo" is not one of memory, disk, redis (from file ` + path + `)`,
		`store.disk.fsync_interval: 10 has no unit; write a duration such as "10s" or "10ms" (from file ` + path + `)`,
		`broker.max_redeliveries: -2 is not allowed; use -1 for unlimited, or 0 or more (from --broker-max-redeliveries)`,
		`log.level: "loud" is not one of trace, debug, info, warn, error (from file ` + path + `)`,
		`shutdown.timeout: 0s is not allowed; use a duration more than 0, such as 10s (from MQGATE_SHUTDOWN_TIMEOUT)`,
	}
	got := errorLines(err)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("error =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var ke *KeyError
	if !errors.As(err, &ke) || ke.Key != "bogus" {
		t.Fatalf("errors.As(*KeyError) = %+v", ke)
	}
	if n := len(keyErrors(err)); n != len(want) {
		t.Fatalf("%d KeyErrors, want %d", n, len(want))
	}
}

func TestLoadFileErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cases := map[string]string{
		filepath.Join(dir, "missing.yaml"):           "read config file: open " + filepath.Join(dir, "missing.yaml"),
		writeFile(t, "c.conf", "a=1"):                `unknown extension ".conf"; use .yaml, .yml, .toml or .json`,
		writeFile(t, "c.yaml", "stomp: [unclosed"):   "parse config file ",
		writeFile(t, "c.json", `{"stomp": `):         "parse config file ",
		writeFile(t, "c.toml", "[stomp\nlisten = 1"): "parse config file ",
	}
	for path, want := range cases {
		_, err := load(path, nil, noEnv)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("load(%s) error = %v; want one containing %q", filepath.Base(path), err, want)
		}
	}
}

func TestEmptyFile(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, writeFile(t, "c.yaml", "# nothing\n"), nil, noEnv)
	if !reflect.DeepEqual(c, Default()) {
		t.Fatalf("empty file: %+v", c)
	}
}

// TestExampleFile keeps mqgate.example.yaml honest: it loads, it holds
// every default, and it documents every key.
func TestExampleFile(t *testing.T) {
	t.Parallel()
	const path = "../mqgate.example.yaml"
	got := mustLoad(t, path, nil, noEnv)
	if want := Default(); !reflect.DeepEqual(got, want) {
		t.Fatalf("example file =\n%+v\nwant Default() =\n%+v", got, want)
	}

	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var comments, settings []string
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if c, ok := strings.CutPrefix(line, "#"); ok {
			comments = append(comments, strings.TrimSpace(c))
		} else if line != "" {
			settings = append(settings, line)
		}
	}
	text := strings.Join(comments, " ")
	for _, k := range keys {
		for _, s := range []string{help[k.name], "env " + envName(k.name) + ", flag --" + flagName(k.name)} {
			if !strings.Contains(text, s) {
				t.Errorf("example file: no comment %q for %s", s, k.name)
			}
		}
	}
	// Every key but node.id (whose default is the host name) is set.
	if n := len(settings) - len(sections); n != len(keys)-1 {
		t.Errorf("example file sets %d keys, want %d", n, len(keys)-1)
	}
}

// TestLoadReadsProcessEnvironment checks that Load, unlike the tests'
// load, reads the real environment. It cannot run in parallel.
func TestLoadReadsProcessEnvironment(t *testing.T) {
	t.Setenv("MQGATE_STORE_DISK_FSYNC", "never")
	t.Setenv("MQGATE_STOMP_MAX_PENDING_BYTES", "128MiB")
	c, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Store.Disk.Fsync != FsyncNever || c.STOMP.MaxPendingBytes != 128*MiB {
		t.Fatalf("fsync, max_pending_bytes = %q, %v", c.Store.Disk.Fsync, c.STOMP.MaxPendingBytes)
	}
}
