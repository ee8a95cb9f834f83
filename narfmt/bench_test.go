package narfmt_test

import (
	"bytes"
	"io"
	"strconv"
	"testing"

	"github.com/nardedup/nardedup/narfmt"
)

const bigFileSize = 64 << 20

// bigFileEntries is a NAR with one large file.
func bigFileEntries() []entry {
	return []entry{reg("/", false, string(make([]byte, bigFileSize)))}
}

// smallFilesEntries is a NAR of 10000 files of 100 bytes in 100 directories.
func smallFilesEntries() []entry {
	contents := string(bytes.Repeat([]byte("x"), 100))
	out := []entry{dir("/")}
	for d := range 100 {
		dp := "/d" + strconv.Itoa(1000+d)
		out = append(out, dir(dp))
		for f := range 100 {
			out = append(out, reg(dp+"/f"+strconv.Itoa(1000+f), f%10 == 0, contents))
		}
	}
	return out
}

// benchRead reads every header and all contents, with 1 MiB reads.
func benchRead(b *testing.B, entries []entry) {
	data, err := writeAll(entries)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r := narfmt.NewReader(bytes.NewReader(data))
		for {
			_, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			for err == nil {
				_, err = r.Read(buf)
			}
			if err != io.EOF {
				b.Fatal(err)
			}
		}
	}
}

// benchWrite writes into a reused in-memory buffer, so the contents are
// copied once, as they would be to a real destination.
func benchWrite(b *testing.B, entries []entry) {
	data, err := writeAll(entries)
	if err != nil {
		b.Fatal(err)
	}
	var out bytes.Buffer
	out.Grow(len(data))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		out.Reset()
		w := narfmt.NewWriter(&out)
		for i := range entries {
			if err := w.WriteHeader(&entries[i].Header); err != nil {
				b.Fatal(err)
			}
			if _, err := w.Write(entries[i].Data); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadBigFile(b *testing.B)    { benchRead(b, bigFileEntries()) }
func BenchmarkReadSmallFiles(b *testing.B) { benchRead(b, smallFilesEntries()) }
func BenchmarkWriteBigFile(b *testing.B)   { benchWrite(b, bigFileEntries()) }
func BenchmarkWriteSmallFiles(b *testing.B) {
	benchWrite(b, smallFilesEntries())
}
