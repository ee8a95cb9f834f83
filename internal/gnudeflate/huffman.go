package gnudeflate

import "io"

// Deflate's alphabets and the shape of gzip's block buffer.
const (
	numLiterals = 256
	endOfBlock  = 256
	numLitLen   = numLiterals + 1 + 29 // literals, end of block, length codes
	numDist     = 30
	numCodeLen  = 19 // the alphabet that codes the code lengths
	maxBits     = 15
	maxCodeLen  = 7 // longest code of the code length alphabet

	// symBufSize bounds the symbols of a block: gzip ends a block when
	// symBufSize-1 symbols or symBufSize matches are buffered.
	symBufSize = 0x8000

	// heapCap is the size of the heap used to build every tree: leaves
	// and inner nodes of the largest one.
	heapCap = 2*numLitLen + 1

	blockStored = 0
	blockFixed  = 1
	blockDyn    = 2

	repPrev   = 16 // repeat the previous length 3-6 times
	repZero   = 17 // repeat a zero length 3-10 times
	repZeroLg = 18 // repeat a zero length 11-138 times
)

var (
	lenExtra     = [29]int{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distExtra    = [numDist]int{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
	codeLenExtra = [numCodeLen]int{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 3, 7}
	// codeLenOrder is the order in which the code length code lengths
	// are sent, so that unused ones can be left off the end.
	codeLenOrder = [numCodeLen]int{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}
)

// Tables filled by init: the code of each match length (less minMatch)
// and of each distance (less one: below 256 directly, else by its top
// bits), the first value of each code, and deflate's fixed trees.
var (
	lenCode   [maxMatch - minMatch + 1]uint8
	lenBase   [29]int
	distCodes [512]uint8
	distBase  [numDist]int

	fixedLitBits  [numLitLen + 2]int
	fixedLitCode  [numLitLen + 2]uint16
	fixedDistBits [numDist]int
	fixedDistCode [numDist]uint16
)

func init() {
	spread(lenCode[:], lenBase[:], lenExtra[:], 0, 27, 0, 0)
	// Length 258 has two codes; the one without extra bits wins.
	lenCode[maxMatch-minMatch] = 28
	spread(distCodes[:], distBase[:], distExtra[:], 0, 15, 0, 0)
	spread(distCodes[256:], distBase[:], distExtra[:], 16, 29, 256>>7, 7)

	var count [maxBits + 1]int
	for i := range fixedLitBits {
		switch {
		case i < 144:
			fixedLitBits[i] = 8
		case i < 256:
			fixedLitBits[i] = 9
		case i < 280:
			fixedLitBits[i] = 7
		default:
			fixedLitBits[i] = 8
		}
		count[fixedLitBits[i]]++
	}
	assignCodes(fixedLitBits[:], fixedLitCode[:], len(fixedLitBits)-1, &count)
	for i := range fixedDistBits {
		fixedDistBits[i] = 5
		fixedDistCode[i] = reverseBits(i, 5)
	}
}

// spread hands codes first..last consecutive runs of table, from index
// n on, each as long as its extra bits (less shift) can count, and sets
// each code's base value: its first index, shifted left by shift.
func spread(table []uint8, base, extra []int, first, last, n, shift int) {
	for c := first; c <= last; c++ {
		base[c] = n << shift
		for range 1 << (extra[c] - shift) {
			table[n] = uint8(c)
			n++
		}
	}
}

// distCode returns the code of a distance less one.
func distCode(d int) int {
	if d < 256 {
		return int(distCodes[d])
	}
	return int(distCodes[256+d>>7])
}

// tree is one Huffman tree under construction: leaves 0..elems-1, inner
// nodes after them.
type tree struct {
	freq  [heapCap]int
	bits  [heapCap]int // code length of a leaf, depth of a node
	up    [heapCap]int // parent node
	code  [heapCap]uint16
	elems int
	limit int   // longest code allowed
	extra []int // extra bits of the leaves from extraBase on
	base  int
	fixed []int // code lengths in deflate's fixed tree, or nil
	last  int   // highest leaf with a non-zero frequency
}

// block gathers the symbols of one deflate block and writes it.
type block struct {
	syms  [symBufSize]uint32 // a literal, or distance<<8 | length-minMatch
	nsyms int
	nmat  int

	lit, dist, codeLen tree
	// Bit lengths of the block with the built trees (less their
	// headers until buildCodeLenTree) and with the fixed trees.
	optBits, fixedBits int

	heap    [heapCap]int
	heapLen int
	heapMax int
	depth   [heapCap]uint8
	perLen  [maxBits + 1]int // leaves per code length
	out     bitWriter
}

func (b *block) reset(w io.Writer) {
	b.lit.elems, b.lit.limit, b.lit.extra, b.lit.base, b.lit.fixed = numLitLen, maxBits, lenExtra[:], numLiterals+1, fixedLitBits[:]
	b.dist.elems, b.dist.limit, b.dist.extra, b.dist.base, b.dist.fixed = numDist, maxBits, distExtra[:], 0, fixedDistBits[:]
	b.codeLen.elems, b.codeLen.limit, b.codeLen.extra, b.codeLen.base, b.codeLen.fixed = numCodeLen, maxCodeLen, codeLenExtra[:], 0, nil
	b.out.reset(w)
	b.clear()
}

// clear empties the block.
func (b *block) clear() {
	clear(b.lit.freq[:numLitLen])
	clear(b.dist.freq[:numDist])
	clear(b.codeLen.freq[:numCodeLen])
	b.lit.freq[endOfBlock] = 1
	b.optBits, b.fixedBits = 0, 0
	b.nsyms, b.nmat = 0, 0
}

// literal records a literal byte and reports whether the block should end.
func (z *Writer) literal(c byte) bool {
	b := &z.blk
	b.syms[b.nsyms] = uint32(c)
	b.nsyms++
	b.lit.freq[c]++
	return z.blockDone()
}

// match records a match and reports whether the block should end.
func (z *Writer) match(dist, length int) bool {
	b := &z.blk
	b.syms[b.nsyms] = uint32(dist<<8 | (length - minMatch))
	b.nsyms++
	b.nmat++
	b.lit.freq[numLiterals+1+int(lenCode[length-minMatch])]++
	b.dist.freq[distCode(dist-1)]++
	return z.blockDone()
}

// blockDone reports whether gzip ends the block after the symbol just
// recorded: when its buffers are full or, above level 2 and every 4096
// symbols, when a rough bound says the block already compresses to less
// than half and has fewer matches than literals.
func (z *Writer) blockDone() bool {
	b := &z.blk
	if z.level > 2 && b.nsyms&0xfff == 0 {
		bound := b.nsyms * 8
		for c, f := range b.dist.freq[:numDist] {
			bound += f * (5 + distExtra[c])
		}
		bound >>= 3
		if b.nmat < b.nsyms/2 && bound < (z.pos-z.blockStart)/2 {
			return true
		}
	}
	return b.nsyms == symBufSize-1 || b.nmat == symBufSize
}

// write writes the block in the cheapest of the three forms, and empties
// it. stored is the input the block covers if it is still in the window
// (a stored block is possible only then), n its length.
func (b *block) write(stored []byte, n int, last bool) {
	b.build(&b.lit)
	b.build(&b.dist)
	maxIndex := b.buildCodeLenTree()

	optBytes := (b.optBits + 3 + 7) >> 3
	fixedBytes := (b.fixedBits + 3 + 7) >> 3
	optBytes = min(optBytes, fixedBytes)

	final := 0
	if last {
		final = 1
	}
	switch {
	case stored != nil && n+4 <= optBytes:
		b.out.bits(blockStored<<1|final, 3)
		b.out.align()
		b.out.bits(n, 16)
		b.out.bits(^n&0xffff, 16)
		b.out.bytes(stored)
	case fixedBytes == optBytes:
		b.out.bits(blockFixed<<1|final, 3)
		b.emit(fixedLitBits[:], fixedLitCode[:], fixedDistBits[:], fixedDistCode[:])
	default:
		b.out.bits(blockDyn<<1|final, 3)
		b.sendTrees(maxIndex)
		b.emit(b.lit.bits[:], b.lit.code[:], b.dist.bits[:], b.dist.code[:])
	}
	b.clear()
	if last {
		b.out.align()
	}
}

// emit writes the block's symbols with the given codes, then the end of
// block.
func (b *block) emit(litBits []int, litCode []uint16, distBits []int, dcodes []uint16) {
	for _, s := range b.syms[:b.nsyms] {
		d := int(s >> 8)
		if d == 0 {
			b.out.bits(int(litCode[s]), litBits[s])
			continue
		}
		l := int(s & 0xff)
		c := int(lenCode[l])
		b.out.bits(int(litCode[numLiterals+1+c]), litBits[numLiterals+1+c])
		if e := lenExtra[c]; e != 0 {
			b.out.bits(l-lenBase[c], e)
		}
		d--
		c = distCode(d)
		b.out.bits(int(dcodes[c]), distBits[c])
		if e := distExtra[c]; e != 0 {
			b.out.bits(d-distBase[c], e)
		}
	}
	b.out.bits(int(litCode[endOfBlock]), litBits[endOfBlock])
}
