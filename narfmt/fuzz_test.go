package narfmt_test

import (
	"bytes"
	"testing"
	"testing/iotest"
)

// FuzzReader checks that the Reader never panics, that every error it
// returns is a narfmt error naming an offset, and that anything it accepts
// is reproduced byte for byte by the Writer, also when read one byte at a
// time.
func FuzzReader(f *testing.F) {
	for _, data := range goldenNARs(f) {
		f.Add(data)
	}
	f.Add(sampleNAR())
	for _, tt := range malformed {
		f.Add(tt.data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var out bytes.Buffer
		err := rewrite(&out, bytes.NewReader(data))
		if err != nil {
			if e := isFormatError(err); e != nil {
				t.Fatal(e)
			}
			_, err2 := readAll(iotest.OneByteReader(bytes.NewReader(data)), false)
			if err2 == nil || err2.Error() != err.Error() {
				t.Fatalf("OneByteReader: got %v; want %v", err2, err)
			}
			return
		}
		if !bytes.Equal(out.Bytes(), data) {
			t.Fatalf("accepted NAR not reproduced: %s", firstDiff(out.Bytes(), data))
		}
		a, err := readAll(bytes.NewReader(data), true)
		if err != nil {
			t.Fatal(err)
		}
		b, err := readAll(iotest.OneByteReader(bytes.NewReader(data)), true)
		if err != nil {
			t.Fatal(err)
		}
		compareEntries(t, b, a)
	})
}
