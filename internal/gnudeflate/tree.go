package gnudeflate

// build makes the Huffman tree of t from its frequencies the way gzip
// does, so that ties break the same way: a binary heap ordered by
// frequency, then by subtree depth. It adds the bit length of the block
// with this tree (and with the fixed tree) to the block's totals.
func (b *block) build(t *tree) {
	h := &b.heap
	b.heapLen, b.heapMax = 0, heapCap
	t.last = -1
	for n := range t.elems {
		if t.freq[n] == 0 {
			t.bits[n] = 0
			continue
		}
		b.heapLen++
		h[b.heapLen] = n
		t.last = n
		b.depth[n] = 0
	}
	// Deflate wants at least one distance code, and a code of one bit
	// at least: make two leaves.
	for b.heapLen < 2 {
		n := 0
		if t.last < 2 {
			t.last++
			n = t.last
		}
		b.heapLen++
		h[b.heapLen] = n
		t.freq[n] = 1
		b.depth[n] = 0
		b.optBits--
		if t.fixed != nil {
			b.fixedBits -= t.fixed[n]
		}
	}
	for k := b.heapLen / 2; k >= 1; k-- {
		b.siftDown(t, k)
	}
	// Join the two rarest nodes until one is left, keeping the removed
	// nodes at the top of h in the order they left.
	node := t.elems
	for {
		a := h[1]
		h[1] = h[b.heapLen]
		b.heapLen--
		b.siftDown(t, 1)
		c := h[1]
		b.heapMax -= 2
		h[b.heapMax+1], h[b.heapMax] = a, c
		t.freq[node] = t.freq[a] + t.freq[c]
		b.depth[node] = max(b.depth[a], b.depth[c]) + 1
		t.up[a], t.up[c] = node, node
		h[1] = node
		node++
		b.siftDown(t, 1)
		if b.heapLen < 2 {
			break
		}
	}
	b.heapMax--
	h[b.heapMax] = h[1]
	b.assignLengths(t)
	assignCodes(t.bits[:], t.code[:], t.last, &b.perLen)
}

// less orders heap entries: by frequency, then by depth.
func (b *block) less(t *tree, n, m int) bool {
	return t.freq[n] < t.freq[m] || t.freq[n] == t.freq[m] && b.depth[n] <= b.depth[m]
}

// siftDown moves the entry at k down the heap until it is no larger than
// its children.
func (b *block) siftDown(t *tree, k int) {
	h := &b.heap
	v := h[k]
	for j := 2 * k; j <= b.heapLen; j *= 2 {
		if j < b.heapLen && b.less(t, h[j+1], h[j]) {
			j++
		}
		if b.less(t, v, h[j]) {
			break
		}
		h[k] = h[j]
		k = j
	}
	h[k] = v
}

// assignLengths sets the code length of every leaf from its depth, limits
// the lengths to t.limit (gzip's fix-up: a leaf above the limit moves down
// beside a shorter one), fills perLen and adds the block's bit counts.
func (b *block) assignLengths(t *tree) {
	h := &b.heap
	clear(b.perLen[:])
	t.bits[h[b.heapMax]] = 0
	over := 0
	for i := b.heapMax + 1; i < heapCap; i++ {
		n := h[i]
		d := t.bits[t.up[n]] + 1
		if d > t.limit {
			d = t.limit
			over++
		}
		t.bits[n] = d
		if n > t.last {
			continue // inner node
		}
		b.perLen[d]++
		x := 0
		if n >= t.base {
			x = t.extra[n-t.base]
		}
		b.optBits += t.freq[n] * (d + x)
		if t.fixed != nil {
			b.fixedBits += t.freq[n] * (t.fixed[n] + x)
		}
	}
	if over == 0 {
		return
	}
	for over > 0 {
		d := t.limit - 1
		for b.perLen[d] == 0 {
			d--
		}
		b.perLen[d]--
		b.perLen[d+1] += 2
		b.perLen[t.limit]--
		over -= 2
	}
	// Hand out the lengths again, longest to the rarest leaves.
	i := heapCap
	for d := t.limit; d != 0; d-- {
		for k := b.perLen[d]; k != 0; {
			i--
			n := h[i]
			if n > t.last {
				continue
			}
			if t.bits[n] != d {
				b.optBits += (d - t.bits[n]) * t.freq[n]
				t.bits[n] = d
			}
			k--
		}
	}
}

// assignCodes gives the leaves 0..last canonical codes from their lengths
// and perLen, bit-reversed for sending.
func assignCodes(bits []int, codes []uint16, last int, perLen *[maxBits + 1]int) {
	var next [maxBits + 1]int
	c := 0
	for d := 1; d <= maxBits; d++ {
		c = (c + perLen[d-1]) << 1
		next[d] = c
	}
	for n := 0; n <= last; n++ {
		d := bits[n]
		if d == 0 {
			continue
		}
		codes[n] = reverseBits(next[d], d)
		next[d]++
	}
}

func reverseBits(c, n int) uint16 {
	r := 0
	for range n {
		r = r<<1 | c&1
		c >>= 1
	}
	return uint16(r)
}

// buildCodeLenTree counts the code length symbols that describe the
// literal/length and distance trees, builds their tree and returns the
// index in codeLenOrder of the last length to send (at least 3).
func (b *block) buildCodeLenTree() int {
	b.runLengths(&b.lit, false)
	b.runLengths(&b.dist, false)
	b.build(&b.codeLen)
	i := numCodeLen - 1
	for ; i >= 3; i-- {
		if b.codeLen.bits[codeLenOrder[i]] != 0 {
			break
		}
	}
	b.optBits += 3*(i+1) + 5 + 5 + 4
	return i
}

// sendTrees writes the header of a dynamic block.
func (b *block) sendTrees(maxIndex int) {
	b.out.bits(b.lit.last+1-257, 5)
	b.out.bits(b.dist.last+1-1, 5)
	b.out.bits(maxIndex+1-4, 4)
	for _, c := range codeLenOrder[:maxIndex+1] {
		b.out.bits(b.codeLen.bits[c], 3)
	}
	b.runLengths(&b.lit, true)
	b.runLengths(&b.dist, true)
}

// runLengths walks the code lengths of t's leaves 0..last as deflate's
// run-length coding does and either counts the symbols (send false) or
// writes them with the code length tree.
func (b *block) runLengths(t *tree, send bool) {
	lens := t.bits[:t.last+1]
	prev := -1
	next := lens[0]
	maxRun, minRun := 7, 4
	if next == 0 {
		maxRun, minRun = 138, 3
	}
	run := 0
	for n, cur := range lens {
		next = -1
		if n+1 < len(lens) {
			next = lens[n+1]
		}
		if run++; run < maxRun && cur == next {
			continue
		}
		switch {
		case run < minRun:
			for range run {
				b.lengthSym(cur, 0, send)
			}
		case cur != 0:
			if cur != prev {
				b.lengthSym(cur, 0, send)
				run--
			}
			b.lengthSym(repPrev, run-3, send)
		case run <= 10:
			b.lengthSym(repZero, run-3, send)
		default:
			b.lengthSym(repZeroLg, run-11, send)
		}
		run, prev = 0, cur
		switch {
		case next == 0:
			maxRun, minRun = 138, 3
		case cur == next:
			maxRun, minRun = 6, 3
		default:
			maxRun, minRun = 7, 4
		}
	}
}

// lengthSym counts or writes one code length symbol and its extra bits.
func (b *block) lengthSym(sym, extra int, send bool) {
	if !send {
		b.codeLen.freq[sym]++
		return
	}
	b.out.bits(int(b.codeLen.code[sym]), b.codeLen.bits[sym])
	if e := codeLenExtra[sym]; e != 0 {
		b.out.bits(extra, e)
	}
}
