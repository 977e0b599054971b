package config

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestRegisterFlags(t *testing.T) {
	t.Parallel()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	RegisterFlags(fs)
	def := Default()
	n := 0
	fs.VisitAll(func(*pflag.Flag) { n++ })
	if n != len(keys) {
		t.Errorf("%d flags for %d keys", n, len(keys))
	}
	for _, k := range keys {
		f := fs.Lookup(flagName(k.name))
		if f == nil {
			t.Errorf("no flag for %s", k.name)
			continue
		}
		if f.Usage != help[k.name] {
			t.Errorf("--%s usage = %q, want %q", f.Name, f.Usage, help[k.name])
		}
		if want := fmt.Sprint(k.get(def)); f.DefValue != want {
			t.Errorf("--%s default = %q, want %q", f.Name, f.DefValue, want)
		}
	}
	for name, key := range map[string]string{
		"stomp-listen":              "stomp.listen",
		"node-data-dir":             "node.data_dir",
		"store-disk-fsync":          "store.disk.fsync",
		"store-disk-fsync-interval": "store.disk.fsync_interval",
	} {
		if flagName(key) != name || fs.Lookup(name) == nil {
			t.Errorf("flag for %s is %q, want --%s", key, flagName(key), name)
		}
	}
	if got := envName("store.disk.fsync_interval"); got != "MQGATE_STORE_DISK_FSYNC_INTERVAL" {
		t.Errorf("envName = %q", got)
	}
	usage := fs.FlagUsages()
	for _, s := range []string{"--stomp-max-frame-size size", "(default 64MiB)", "--shutdown-timeout duration", "(default 10s)"} {
		if !strings.Contains(usage, s) {
			t.Errorf("usage lacks %q:\n%s", s, usage)
		}
	}
}

// TestDocs checks that docs/configuration.md lists every key with its
// environment variable, flag, default and help sentence.
func TestDocs(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := make(map[string]string)
	for _, line := range strings.Split(string(data), "\n") {
		if k, ok := strings.CutPrefix(line, "| `"); ok {
			if i := strings.Index(k, "`"); i > 0 {
				rows[k[:i]] = line
			}
		}
	}
	def := Default()
	for _, k := range keys {
		row, ok := rows[k.name]
		if !ok {
			t.Errorf("docs: no table row for %s", k.name)
			continue
		}
		want := []string{"`" + envName(k.name) + "`", "`--" + flagName(k.name) + "`", help[k.name]}
		if k.name != "node.id" {
			want = append(want, fmt.Sprintf("`%v`", k.get(def)))
		}
		for _, s := range want {
			if !strings.Contains(strings.ReplaceAll(row, "\\|", "|"), s) {
				t.Errorf("docs: row for %s lacks %q", k.name, s)
			}
		}
	}
}
