package pack

import (
	"encoding/binary"
	"fmt"
)

// Decoder reads the uvarints, ids and byte strings of the repository's
// binary objects (tables of contents, the condemned list) with a sticky
// error: after the first failure every read returns a zero value, and Err
// returns an error wrapping ErrCorrupt.
type Decoder struct {
	b   []byte
	err error
}

// NewDecoder returns a Decoder reading b.
func NewDecoder(b []byte) *Decoder { return &Decoder{b: b} }

// Len returns the number of bytes not read yet.
func (d *Decoder) Len() int { return len(d.b) }

// Err returns the first failure, or nil.
func (d *Decoder) Err() error { return d.err }

// Fail records a failure, unless there was one already.
func (d *Decoder) Fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
	}
}

// Uvarint reads an unsigned varint.
func (d *Decoder) Uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.Fail("truncated or overlong varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// U32 reads an unsigned varint that must fit in 32 bits.
func (d *Decoder) U32() uint32 {
	v := d.Uvarint()
	if v > 1<<32-1 {
		d.Fail("value %d out of range", v)
	}
	return uint32(v)
}

// Count reads a count that may not exceed limit (an upper bound derived from
// the bytes left), so a hostile count cannot make the caller allocate.
func (d *Decoder) Count(limit int) int {
	v := d.Uvarint()
	if v > uint64(limit) {
		d.Fail("count %d exceeds the data", v)
		return 0
	}
	return int(v)
}

// ID reads an id.
func (d *Decoder) ID() ID {
	var id ID
	if d.err != nil {
		return id
	}
	if len(d.b) < IDSize {
		d.Fail("truncated id")
		return id
	}
	copy(id[:], d.b)
	d.b = d.b[IDSize:]
	return id
}

// Bytes reads n bytes. The result aliases the decoded buffer.
func (d *Decoder) Bytes(n int) []byte {
	if d.err != nil || n > len(d.b) {
		d.Fail("truncated")
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}
