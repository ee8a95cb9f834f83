package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path"
	"time"

	"github.com/nardedup/nardedup/narfmt"
	"github.com/nardedup/nardedup/narfmt/storepath"
	"github.com/nardedup/nardedup/narstore"
)

// lsNode is one node of a NAR listing, in the JSON form Nix writes
// (listNar in Nix's nar-accessor.cc): a regular file always has a size,
// and executable only when set; a directory always has entries, even
// none.
type lsNode struct {
	Type       string             `json:"type"`
	Size       *int64             `json:"size,omitempty"`
	Executable bool               `json:"executable,omitempty"`
	NarOffset  int64              `json:"narOffset,omitempty"`
	Entries    map[string]*lsNode `json:"entries,omitzero"`
	Target     string             `json:"target,omitempty"`
}

// listing is the content of a .ls file.
type listing struct {
	Version int     `json:"version"`
	Root    *lsNode `json:"root"`
}

// serveListing answers /<hash>.ls with the listing of the store path's NAR,
// walked while the NAR is rebuilt. The listing is sent only once the whole
// NAR has matched its hash.
func (s *Server) serveListing(w http.ResponseWriter, r *http.Request, hash string) {
	if !storepath.IsHash(hash) {
		s.notFound(w, r)
		return
	}
	what := "listing " + hash
	_, narHash, err := s.narInfo(r.Context(), hash)
	if err != nil {
		s.fail(w, r, what, err)
		return
	}
	// The listing follows from the NAR, so its tag is the NarHash's.
	etag := `"` + narHash.String() + `.ls"`
	w.Header().Set("Cache-Control", s.cache.narinfo)
	w.Header().Set("ETag", etag)
	if notModified(w, r, etag, false) {
		return
	}
	client := clientKey(r)
	if !s.acquireStream(w, r, client) {
		return
	}
	defer s.streams.release(client)
	rc, _, err := s.st.Open(r.Context(), narHash)
	if err != nil {
		s.fail(w, r, what, err)
		return
	}
	defer rc.Close()
	root, err := listNAR(rc)
	if err == nil {
		// Read to the end, where the NAR is checked against its hash.
		_, err = io.Copy(io.Discard, rc)
	}
	if err != nil {
		s.fail(w, r, what, fmt.Errorf("NAR %s: %w", narHash, err))
		return
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(listing{Version: 1, Root: root}); err != nil {
		s.fail(w, r, what, err)
		return
	}
	// Rebuilding a big NAR may have taken most of the server's
	// WriteTimeout.
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(s.sendTimeout))
	s.serveBytes(w, r, "application/json", bytes.TrimSuffix(b.Bytes(), []byte("\n")), etag)
}

// listNAR walks the NAR read from rd and returns the tree of its nodes.
// It reads rd to its end, checking that the NAR ends there.
func listNAR(rd io.Reader) (*lsNode, error) {
	nr := narfmt.NewReader(rd)
	dirs := map[string]*lsNode{}
	var root *lsNode
	for {
		h, err := nr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		n := &lsNode{}
		switch h.Type {
		case narfmt.TypeRegular:
			size := h.Size
			n.Type, n.Size, n.Executable, n.NarOffset = "regular", &size, h.Executable, h.Offset
		case narfmt.TypeDirectory:
			n.Type, n.Entries = "directory", map[string]*lsNode{}
			dirs[h.Path] = n
		case narfmt.TypeSymlink:
			n.Type, n.Target = "symlink", h.LinkTarget
		default:
			return nil, fmt.Errorf("%w: %s: node of type %v", narstore.ErrCorrupt, h.Path, h.Type)
		}
		if h.Path == "/" {
			root = n
			continue
		}
		parent := dirs[path.Dir(h.Path)]
		if parent == nil {
			return nil, fmt.Errorf("%w: %s: no parent directory", narstore.ErrCorrupt, h.Path)
		}
		parent.Entries[path.Base(h.Path)] = n
	}
	if root == nil {
		return nil, fmt.Errorf("%w: empty NAR", narstore.ErrCorrupt)
	}
	return root, nil
}
