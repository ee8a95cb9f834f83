package narinfo_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/nardedup/nardedup/narfmt/narinfo"
	"github.com/nardedup/nardedup/narfmt/signature"
)

const (
	sp    = "/nix/store/0c2wd7rkrsp80vm543fsga2n0vzgs345-glibc-bin-2.36"
	ref1  = "0c2wd7rkrsp80vm543fsga2n0vzgs345-glibc-bin-2.36"
	ref2  = "569kq2rlrrl4cdy8l965mx7wy794057k-bash-5.2.15"
	nh    = "sha256:05ci27iz0zfxyslrsznfrv1ld50mqjpn3rpa27mwyij0hxipivc9"
	fh    = "sha256:0ipfbk8yaskginv8prr8xvm1xlsrswdivl4by7jjf6z0nbaxd9yd"
	valid = "StorePath: " + sp + "\n" +
		"URL: nar/x.nar.xz\n" +
		"Compression: xz\n" +
		"FileHash: " + fh + "\n" +
		"FileSize: 601736\n" +
		"NarHash: " + nh + "\n" +
		"NarSize: 2073992\n" +
		"References: " + ref1 + " " + ref2 + "\n" +
		"Deriver: paw5p6z4lzn9mpj7bma7x1al6j88wzny-glibc-bin-2.36.drv\n" +
		"Sig: k:AAAA\n"
)

func parse(s string) (*narinfo.NarInfo, error) {
	return narinfo.Parse(strings.NewReader(s))
}

// with replaces the line starting with key+": " in valid, or drops it if
// line is "".
func with(key, line string) string {
	var out []string
	for _, l := range strings.SplitAfter(valid, "\n") {
		if strings.HasPrefix(l, key+": ") {
			if line == "" {
				continue
			}
			l = line
		}
		out = append(out, l)
	}
	return strings.Join(out, "")
}

func TestParseFields(t *testing.T) {
	ni, err := parse(valid)
	if err != nil {
		t.Fatal(err)
	}
	want := &narinfo.NarInfo{StorePath: sp, URL: "nar/x.nar.xz", Compression: "xz",
		FileHash: fh, FileSize: 601736, NarHash: nh, NarSize: 2073992,
		References: []string{ref1, ref2}, Deriver: "paw5p6z4lzn9mpj7bma7x1al6j88wzny-glibc-bin-2.36.drv",
		Sigs:  []string{"k:AAAA"},
		Order: []string{"StorePath", "URL", "Compression", "FileHash", "FileSize", "NarHash", "NarSize", "References", "Deriver", "Sig"}}
	if !reflect.DeepEqual(ni, want) {
		t.Errorf("Parse = %+v; want %+v", ni, want)
	}
}

func TestParseAccepts(t *testing.T) {
	tests := []struct{ name, in string }{
		{"minimal", "StorePath: " + sp + "\nURL: u\nNarHash: " + nh + "\nNarSize: 1\n"},
		{"no references", with("References", "References: \n")},
		{"unknown deriver", with("Deriver", "Deriver: unknown-deriver\n")},
		{"unknown keys", valid + "X-Foo: bar: baz\nX-Foo: again\nZ: \n"},
		{"reordered", "NarSize: 1\nNarHash: " + nh + "\nURL: u\nStorePath: " + sp + "\n"},
		{"many sigs", valid + "Sig: a:b\nSig: a:b\n"},
		{"system", valid + "System: x86_64-linux\n"},
		{"CA fixed", valid + "CA: fixed:r:" + nh + "\n"},
		{"CA fixed flat sha1", valid + "CA: fixed:sha1:kpcd173cq987hw957sx6m0868wv3x6d9\n"},
		{"CA text", valid + "CA: text:" + nh + "\n"},
		{"CA empty", valid + "CA: \n"},
		{"empty compression", with("Compression", "Compression: \n")},
		{"SRI NarHash", with("NarHash", "NarHash: sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n")},
		{"hex FileHash", with("FileHash", "FileHash: sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n")},
		{"FileSize 0", with("FileSize", "FileSize: 0\n")},
		{"max NarSize", with("NarSize", "NarSize: 18446744073709551615\n")},
		{"utf-8 URL", with("URL", "URL: nar/caf\u00e9\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ni, err := parse(tt.in)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := ni.String(); got != tt.in {
				t.Errorf("String() = %q; want %q", got, tt.in)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"empty", "", "narinfo: empty"},
		{"missing StorePath", with("StorePath", ""), "missing StorePath"},
		{"missing URL", with("URL", ""), "missing URL"},
		{"missing NarHash", with("NarHash", ""), "missing NarHash"},
		{"missing NarSize", with("NarSize", ""), "missing NarSize"},
		{"empty URL", with("URL", "URL: \n"), "line 2: URL"},
		{"NarSize zero", with("NarSize", "NarSize: 0\n"), "line 7: NarSize"},
		{"NarSize negative", with("NarSize", "NarSize: -1\n"), "NarSize"},
		{"NarSize plus", with("NarSize", "NarSize: +1\n"), "NarSize"},
		{"NarSize leading zero", with("NarSize", "NarSize: 01\n"), "NarSize"},
		{"NarSize overflow", with("NarSize", "NarSize: 18446744073709551616\n"), "NarSize"},
		{"NarSize hex", with("NarSize", "NarSize: 0x10\n"), "NarSize"},
		{"NarSize space", with("NarSize", "NarSize:  1\n"), "NarSize"},
		{"FileSize word", with("FileSize", "FileSize: many\n"), "line 5: FileSize"},
		{"NarHash bad", with("NarHash", "NarHash: sha256:xyz\n"), "line 6: NarHash"},
		{"NarHash no algo", with("NarHash", "NarHash: 05ci27iz0zfxyslrsznfrv1ld50mqjpn3rpa27mwyij0hxipivc9\n"), "NarHash"},
		{"FileHash bad", with("FileHash", "FileHash: md5:00\n"), "line 4: FileHash"},
		{"StorePath other store", with("StorePath", "StorePath: /gnu/store/0c2wd7rkrsp80vm543fsga2n0vzgs345-x\n"), "line 1: StorePath"},
		{"StorePath relative", with("StorePath", "StorePath: "+ref1+"\n"), "StorePath"},
		{"StorePath bad hash", with("StorePath", "StorePath: /nix/store/ec2wd7rkrsp80vm543fsga2n0vzgs345-x\n"), "StorePath"},
		{"StorePath bad name", with("StorePath", "StorePath: /nix/store/0c2wd7rkrsp80vm543fsga2n0vzgs345-a b\n"), "StorePath"},
		{"reference full path", with("References", "References: "+sp+"\n"), "line 8: References"},
		{"reference bad", with("References", "References: "+ref1+" foo\n"), "References"},
		{"references double space", with("References", "References: "+ref1+"  "+ref2+"\n"), "References"},
		{"references trailing space", with("References", "References: "+ref1+" \n"), "References"},
		{"deriver full path", with("Deriver", "Deriver: /nix/store/paw5p6z4lzn9mpj7bma7x1al6j88wzny-x.drv\n"), "line 9: Deriver"},
		{"deriver empty", with("Deriver", "Deriver: \n"), "Deriver"},
		{"CA bad", valid + "CA: sha256:x\n", "line 11: CA"},
		{"CA text sha1", valid + "CA: text:sha1:kpcd173cq987hw957sx6m0868wv3x6d9\n", "CA"},
		{"duplicate StorePath", valid + "StorePath: " + sp + "\n", "line 11: StorePath: duplicate"},
		{"duplicate NarHash", valid + "NarHash: " + nh + "\n", "duplicate"},
		{"duplicate References", valid + "References: \n", "duplicate"},
		{"duplicate CA", valid + "CA: \nCA: \n", "line 12: CA: duplicate"},
		{"duplicate Deriver", valid + "Deriver: unknown-deriver\n", "duplicate"},
		{"no colon", valid + "Garbage\n", "line 11"},
		{"colon without space", valid + "Foo:bar\n", "line 11"},
		{"empty line", "\n" + valid, "line 1"},
		{"empty key", valid + ": x\n", "line 11: empty key"},
		{"key with space", valid + "Foo Bar: x\n", "line 11"},
		{"CRLF", strings.ReplaceAll(valid, "\n", "\r\n"), "line 1"},
		{"control char", with("URL", "URL: a\x00b\n"), "line 2: URL"},
		{"no final newline", strings.TrimSuffix(valid, "\n"), "line 10: last line"},
		{"other store dir only", "StorePath: /tmp/store/0c2wd7rkrsp80vm543fsga2n0vzgs345-x\n", "StorePath"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ni, err := parse(tt.in)
			if err == nil {
				t.Fatalf("Parse = %+v, nil; want error containing %q", ni, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "narinfo: ") {
				t.Errorf("Parse error = %q; want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestTruncations(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "x8shz8np4d4r1s60llabw1rmbl8glhf3.narinfo"))
	if err != nil {
		t.Fatal(err)
	}
	full := string(b)
	for i := 0; i < len(full); i++ {
		ni, err := parse(full[:i])
		if err != nil {
			continue
		}
		// Only cuts at a line end after the required fields may parse.
		if full[i-1] != '\n' || ni.String() != full[:i] {
			t.Errorf("Parse(first %d bytes) = %+v, nil; want error", i, ni)
		}
	}
}

func TestSizeLimit(t *testing.T) {
	refs := strings.Repeat(ref1+" ", (narinfo.MaxSize-1000)/(len(ref1)+1))
	big := with("References", "References: "+strings.TrimSuffix(refs, " ")+"\n")
	ni, err := parse(big)
	if err != nil {
		t.Fatalf("Parse(%d bytes): %v", len(big), err)
	}
	if len(ni.References) < 100000 {
		t.Errorf("len(References) = %d; want > 100000", len(ni.References))
	}
	over := big + "X: " + strings.Repeat("y", 1000) + "\n"
	if _, err := parse(over); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("Parse(%d bytes) = %v; want size error", len(over), err)
	}
	endless := io.MultiReader(strings.NewReader(valid+"X: "), infinite{})
	if _, err := narinfo.Parse(endless); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("Parse(endless line) = %v; want size error", err)
	}
}

type infinite struct{}

func (infinite) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	return len(p), nil
}

type failing struct{}

func (failing) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestReadError(t *testing.T) {
	_, err := narinfo.Parse(io.MultiReader(strings.NewReader(valid), failing{}))
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("Parse = %v; want read error", err)
	}
}

func TestStoreDir(t *testing.T) {
	in := strings.ReplaceAll(valid, "/nix/store/", "/gnu/store/")
	if _, err := parse(in); err == nil {
		t.Errorf("Parse(/gnu/store narinfo) = nil error; want error")
	}
	ni, err := narinfo.ParseStoreDir(strings.NewReader(in), "/gnu/store")
	if err != nil {
		t.Fatalf("ParseStoreDir(/gnu/store) = %v", err)
	}
	fp, err := ni.Fingerprint()
	if err != nil || !strings.Contains(fp, ";/gnu/store/"+ref1+",/gnu/store/"+ref2) {
		t.Errorf("Fingerprint() = %q, %v; want /gnu/store references", fp, err)
	}
	if _, err := narinfo.ParseStoreDir(strings.NewReader(valid), "nix/store"); err == nil {
		t.Errorf("ParseStoreDir with relative store dir = nil error; want error")
	}
}

func TestFingerprint(t *testing.T) {
	ni := &narinfo.NarInfo{StorePath: sp, NarSize: 5, References: []string{ref2, ref1, ref2},
		NarHash: "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="}
	want := "1;" + sp + ";sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73;5;" +
		"/nix/store/" + ref1 + ",/nix/store/" + ref2
	if got, err := ni.Fingerprint(); got != want || err != nil {
		t.Errorf("Fingerprint() = %q, %v; want %q", got, err, want)
	}
	ni.References = nil
	want = "1;" + sp + ";sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73;5;"
	if got, err := ni.Fingerprint(); got != want || err != nil {
		t.Errorf("Fingerprint() = %q, %v; want %q", got, err, want)
	}
	for _, bad := range []narinfo.NarInfo{
		{StorePath: sp, NarHash: nh},
		{StorePath: sp, NarHash: "x", NarSize: 1},
		{StorePath: "x", NarHash: nh, NarSize: 1},
		{StorePath: sp, NarHash: nh, NarSize: 1, References: []string{"x"}},
	} {
		if fp, err := bad.Fingerprint(); err == nil {
			t.Errorf("Fingerprint(%+v) = %q, nil; want error", bad, fp)
		}
	}
}

func TestSignAndString(t *testing.T) {
	sk, pk, _ := signature.GenerateKey("ours-1", nil)
	ni, err := parse(valid + "X: y\n")
	if err != nil {
		t.Fatal(err)
	}
	if err := ni.Verify([]signature.PublicKey{pk}); err == nil {
		t.Errorf("Verify before Sign = nil; want error")
	}
	if err := ni.Sign(sk); err != nil {
		t.Fatal(err)
	}
	if err := ni.Sign(sk); err != nil || len(ni.Sigs) != 2 {
		t.Errorf("second Sign: %v, %d sigs; want 2 sigs", err, len(ni.Sigs))
	}
	if err := ni.Verify([]signature.PublicKey{pk}); err != nil {
		t.Errorf("Verify after Sign = %v; want nil", err)
	}
	want := valid + "Sig: " + ni.Sigs[1] + "\nX: y\n"
	if got := ni.String(); got != want {
		t.Errorf("String() = %q; want %q", got, want)
	}
	again, err := parse(ni.String())
	if err != nil || again.Verify([]signature.PublicKey{pk}) != nil {
		t.Errorf("reparse and Verify: %v", err)
	}
	if err := ni.Sign(signature.SecretKey{Name: "x"}); err == nil {
		t.Errorf("Sign with empty key = nil; want error")
	}
}

func TestStringNixOrder(t *testing.T) {
	ni := &narinfo.NarInfo{StorePath: sp, URL: "u", NarHash: nh, NarSize: 1,
		Sigs: []string{"a:b"}, CA: "text:" + nh, System: "x86_64-linux",
		Extra: []narinfo.Field{{Key: "X", Value: "y"}}}
	want := "StorePath: " + sp + "\nURL: u\nNarHash: " + nh + "\nNarSize: 1\nReferences: \n" +
		"System: x86_64-linux\nSig: a:b\nCA: text:" + nh + "\nX: y\n"
	if got := ni.String(); got != want {
		t.Errorf("String() = %q; want %q", got, want)
	}
	if _, err := parse(want); err != nil {
		t.Errorf("Parse(String()) = %v", err)
	}
}

func TestEffectiveCompression(t *testing.T) {
	for _, tt := range []struct{ in, want string }{{"", "bzip2"}, {"xz", "xz"}, {"none", "none"}} {
		ni := &narinfo.NarInfo{Compression: tt.in}
		if got := ni.EffectiveCompression(); got != tt.want {
			t.Errorf("EffectiveCompression(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}
