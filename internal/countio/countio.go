// Package countio counts the bytes that go through a reader or a writer.
package countio

import "io"

// Writer counts the bytes written to W. It is not safe for concurrent use.
type Writer struct {
	W io.Writer
	N int64 // bytes W accepted
}

func (c *Writer) Write(p []byte) (int, error) {
	n, err := c.W.Write(p)
	c.N += int64(n)
	return n, err
}

// Reader counts the bytes read from R. It is not safe for concurrent use.
type Reader struct {
	R io.Reader
	N int64 // bytes R returned
}

func (c *Reader) Read(p []byte) (int, error) {
	n, err := c.R.Read(p)
	c.N += int64(n)
	return n, err
}
