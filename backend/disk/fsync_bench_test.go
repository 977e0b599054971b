package disk

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkFsyncCeiling is the disk's reference point: one 1 KiB write and
// one fdatasync per operation, as a store without group commit would do
// per message. Compare records/s of BenchmarkAppend with it.
func BenchmarkFsyncCeiling(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "ceiling"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1024)
	for b.Loop() {
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
		if err := syncData(f); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "fsyncs/s")
}
