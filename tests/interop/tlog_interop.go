// Command tlog_interop checks a C2SP tiled log (c2sp.org/tlog-tiles) with Go's reference code,
// golang.org/x/mod/sumdb/note and golang.org/x/mod/sumdb/tlog, which share no code with this
// project's crypto/tiles.py or its server.
//
//	tlog_interop check BASE VKEY INDEX OLDSIZE
//
// BASE is an http(s) URL prefix or a directory holding "checkpoint" and "tile/...". The program
// verifies the checkpoint's signature by VKEY with note.Open, reads hashes through
// tlog.TileHashReader (which authenticates tiles against the checkpoint's root), checks that each
// entry of the bundle holding INDEX hashes to its level-0 tile hash, proves and checks the
// inclusion of each of those entries (INDEX among them) with tlog.ProveRecord and
// tlog.CheckRecord, and the consistency of the tree of OLDSIZE leaves with the checkpoint's tree
// with tlog.ProveTree and tlog.CheckTree.
//
// On success it prints "ok <size> <root base64>"; any failure prints a message on stderr and
// exits with status 1 (status 2 for a usage error).
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const tileHeight = 8 // C2SP tiles are always of height 8; the height is not in their paths

func main() {
	if len(os.Args) != 6 || os.Args[1] != "check" {
		fmt.Fprintln(os.Stderr, "usage: tlog_interop check BASE VKEY INDEX OLDSIZE")
		os.Exit(2)
	}
	index, err1 := strconv.ParseInt(os.Args[4], 10, 64)
	oldSize, err2 := strconv.ParseInt(os.Args[5], 10, 64)
	if err1 != nil || err2 != nil {
		fmt.Fprintln(os.Stderr, "tlog_interop: INDEX and OLDSIZE must be decimal integers")
		os.Exit(2)
	}
	src := newSource(os.Args[2])
	tree, err := check(src, os.Args[3], index, oldSize)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tlog_interop:", err)
		os.Exit(1)
	}
	fmt.Printf("ok %d %s\n", tree.N, base64.StdEncoding.EncodeToString(tree.Hash[:]))
}

func check(src *source, vkey string, index, oldSize int64) (tlog.Tree, error) {
	tree, err := readCheckpoint(src, vkey)
	if err != nil {
		return tlog.Tree{}, err
	}
	if index < 0 || index >= tree.N {
		return tree, fmt.Errorf("index %d is not in a tree of %d entries", index, tree.N)
	}
	if oldSize < 1 || oldSize > tree.N {
		return tree, fmt.Errorf("old size %d is not between 1 and %d", oldSize, tree.N)
	}
	hashes := tlog.TileHashReader(tree, &tileReader{src})

	// The entry bundle holding INDEX: every entry must hash to its (authenticated) leaf hash.
	first := index / 256 * 256
	width := tree.N - first
	if width > 256 {
		width = 256
	}
	bundle, err := src.read("tile/entries/" + tilePath(first/256, int(width)))
	if err != nil {
		return tree, err
	}
	entries, err := parseBundle(bundle, int(width))
	if err != nil {
		return tree, err
	}
	indexes := make([]int64, width)
	for i := range indexes {
		indexes[i] = tlog.StoredHashIndex(0, first+int64(i))
	}
	leafHashes, err := hashes.ReadHashes(indexes)
	if err != nil {
		return tree, fmt.Errorf("reading level-0 hashes: %v", err)
	}
	for i, entry := range entries {
		if tlog.RecordHash(entry) != leafHashes[i] {
			return tree, fmt.Errorf("entry %d does not hash to its level-0 tile hash", first+int64(i))
		}
	}

	// Inclusion of every entry of the bundle, INDEX among them, in the checkpoint's tree.
	// CheckRecord ties each entry to the signed root by itself. This matters: TileHashReader in
	// golang.org/x/mod 0.7.0 (Debian's golang-golang-x-mod-dev) authenticates full tiles
	// starting at tiles[len(stx)], and len(stx) counts subtree hashes, not distinct tiles, so a
	// full tile can be returned unchecked (e.g. tile/0/000 of a tree of 1000). The comparison
	// above therefore proves nothing on its own.
	for i, entry := range entries {
		n := first + int64(i)
		recordProof, err := tlog.ProveRecord(tree.N, n, hashes)
		if err != nil {
			return tree, fmt.Errorf("proving inclusion of %d: %v", n, err)
		}
		if err := tlog.CheckRecord(recordProof, tree.N, tree.Hash, n, tlog.RecordHash(entry)); err != nil {
			return tree, fmt.Errorf("checking inclusion of %d: %v", n, err)
		}
	}

	// Consistency of the tree of OLDSIZE leaves with the checkpoint's tree.
	oldRoot, err := tlog.TreeHash(oldSize, hashes)
	if err != nil {
		return tree, fmt.Errorf("computing the old root: %v", err)
	}
	treeProof, err := tlog.ProveTree(tree.N, oldSize, hashes)
	if err != nil {
		return tree, fmt.Errorf("proving consistency: %v", err)
	}
	if err := tlog.CheckTree(treeProof, tree.N, tree.Hash, oldSize, oldRoot); err != nil {
		return tree, fmt.Errorf("checking consistency: %v", err)
	}
	return tree, nil
}

// readCheckpoint verifies BASE/checkpoint and parses its body as c2sp.org/tlog-checkpoint:
// origin, decimal size, base64 root, optional extension lines. (tlog.ParseTree only knows the
// older go.sum database format, which has no origin line.)
func readCheckpoint(src *source, vkey string) (tlog.Tree, error) {
	message, err := src.read("checkpoint")
	if err != nil {
		return tlog.Tree{}, err
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		return tlog.Tree{}, fmt.Errorf("verifier key: %v", err)
	}
	n, err := note.Open(message, note.VerifierList(verifier))
	if err != nil {
		return tlog.Tree{}, fmt.Errorf("checkpoint: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 || lines[len(lines)-1] != "" {
		return tlog.Tree{}, fmt.Errorf("checkpoint: fewer than three lines")
	}
	if lines[0] != verifier.Name() {
		return tlog.Tree{}, fmt.Errorf("checkpoint: origin %q is not the key name %q", lines[0], verifier.Name())
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return tlog.Tree{}, fmt.Errorf("checkpoint: bad tree size %q", lines[1])
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize {
		return tlog.Tree{}, fmt.Errorf("checkpoint: bad root hash %q", lines[2])
	}
	tree := tlog.Tree{N: size}
	copy(tree.Hash[:], root)
	return tree, nil
}

// parseBundle splits an entry bundle into exactly width uint16-length-prefixed entries.
func parseBundle(data []byte, width int) ([][]byte, error) {
	var entries [][]byte
	for i := 0; i < width; i++ {
		if len(data) < 2 {
			return nil, fmt.Errorf("entry bundle ends before entry %d of %d", i, width)
		}
		n := int(binary.BigEndian.Uint16(data))
		if len(data) < 2+n {
			return nil, fmt.Errorf("entry bundle ends inside entry %d of %d", i, width)
		}
		entries = append(entries, data[2:2+n])
		data = data[2+n:]
	}
	if len(data) != 0 {
		return nil, fmt.Errorf("entry bundle has %d bytes after its %d entries", len(data), width)
	}
	return entries, nil
}

// tilePath spells index N and width W the C2SP way: x-prefixed 3-digit groups, ".p/W" if partial.
// This is written out here rather than taken from tlog.Tile.Path, which includes the height.
func tilePath(n int64, w int) string {
	s := fmt.Sprintf("%03d", n%1000)
	for n >= 1000 {
		n /= 1000
		s = fmt.Sprintf("x%03d/%s", n%1000, s)
	}
	if w != 1<<tileHeight {
		s += fmt.Sprintf(".p/%d", w)
	}
	return s
}

// tileReader serves tlog.TileHashReader from C2SP paths; TileHashReader authenticates the data.
type tileReader struct{ src *source }

func (r *tileReader) Height() int { return tileHeight }

func (r *tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	data := make([][]byte, len(tiles))
	for i, t := range tiles {
		if t.H != tileHeight || t.L < 0 {
			return nil, fmt.Errorf("unexpected tile %+v", t)
		}
		d, err := r.src.read(fmt.Sprintf("tile/%d/%s", t.L, tilePath(t.N, t.W)))
		if err != nil {
			return nil, err
		}
		data[i] = d
	}
	return data, nil
}

func (r *tileReader) SaveTiles(tiles []tlog.Tile, data [][]byte) {}

// source reads resources below BASE, from a web server or a directory.
type source struct {
	base   string
	client *http.Client
}

func newSource(base string) *source {
	if strings.HasPrefix(base, "http://") || strings.HasPrefix(base, "https://") {
		return &source{base: strings.TrimRight(base, "/"), client: &http.Client{Timeout: 30 * time.Second}}
	}
	return &source{base: base}
}

func (s *source) read(path string) ([]byte, error) {
	if s.client == nil {
		return os.ReadFile(filepath.Join(s.base, filepath.FromSlash(path)))
	}
	url := s.base + "/" + path
	resp, err := s.client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<24))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s: %s", url, resp.Status, bytes.TrimSpace(body[:min(len(body), 200)]))
	}
	return body, nil
}

func min(a, b int) int {
	if a < b {
		return a
	}
	return b
}
