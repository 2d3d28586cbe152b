// Command note_interop checks this project's signed notes against Go's reference implementation,
// golang.org/x/mod/sumdb/note, which shares no code with crypto/note.py.
//
//	note_interop verify VKEY...        reads a signed note on stdin; prints its text if note.Open accepts it
//	note_interop sign SKEY...          reads a note text on stdin; prints it signed by every key
//	note_interop signers VKEY...       like verify, but prints the names of the verified signatures
//	note_interop cosign TIME SKEY...   reads a checkpoint note on stdin; prints it with cosignatures
//
// Verifier keys of type 0x04 and the cosign command use tlog-cosignature (c2sp.org/tlog-cosignature)
// Ed25519 cosignatures, implemented below from the specification and plugged into Go's note
// package through its Verifier and Signer interfaces; crypto/cosignature.py shares no code with it.
//
// Any failure prints the Go error on stderr and exits with status 1.
package main

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

const cosignatureType = 0x04

// cosignatureKeyHash is SHA-256(name || "\n" || 0x04 || public key)[:4], big-endian.
func cosignatureKeyHash(name string, public ed25519.PublicKey) uint32 {
	h := sha256.New()
	h.Write([]byte(name + "\n"))
	h.Write([]byte{cosignatureType})
	h.Write(public)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// cosignedMessage is the Ed25519 signed message of a cosignature: header, time line, note text.
func cosignedMessage(timestamp uint64, text []byte) []byte {
	return append([]byte(fmt.Sprintf("cosignature/v1\ntime %d\n", timestamp)), text...)
}

type cosignatureVerifier struct {
	name   string
	hash   uint32
	public ed25519.PublicKey
}

func (v *cosignatureVerifier) Name() string    { return v.name }
func (v *cosignatureVerifier) KeyHash() uint32 { return v.hash }

func (v *cosignatureVerifier) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	timestamp := binary.BigEndian.Uint64(sig[:8])
	if timestamp > 1<<63-1 {
		return false
	}
	return ed25519.Verify(v.public, cosignedMessage(timestamp, msg), sig[8:])
}

type cosigner struct {
	name      string
	hash      uint32
	private   ed25519.PrivateKey
	timestamp uint64
}

func (s *cosigner) Name() string    { return s.name }
func (s *cosigner) KeyHash() uint32 { return s.hash }

func (s *cosigner) Sign(msg []byte) ([]byte, error) {
	sig := binary.BigEndian.AppendUint64(nil, s.timestamp)
	return append(sig, ed25519.Sign(s.private, cosignedMessage(s.timestamp, msg))...), nil
}

// splitKey parses name+hex(keyhash)+base64(type||key), checking the key hash it states.
func splitKey(text string) (name string, hash uint32, keyType byte, key []byte, err error) {
	parts := strings.SplitN(text, "+", 3)
	if len(parts) != 3 {
		return "", 0, 0, nil, errors.New("malformed key")
	}
	h, err := strconv.ParseUint(parts[1], 16, 32)
	if err != nil || len(parts[1]) != 8 {
		return "", 0, 0, nil, errors.New("malformed key hash")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) < 1 {
		return "", 0, 0, nil, errors.New("malformed key material")
	}
	return parts[0], uint32(h), raw[0], raw[1:], nil
}

func newVerifier(vkey string) (note.Verifier, error) {
	name, hash, keyType, key, err := splitKey(vkey)
	if err != nil {
		return nil, err
	}
	if keyType != cosignatureType {
		return note.NewVerifier(vkey)
	}
	if len(key) != ed25519.PublicKeySize {
		return nil, errors.New("malformed cosignature key")
	}
	v := &cosignatureVerifier{name: name, hash: hash, public: ed25519.PublicKey(key)}
	if cosignatureKeyHash(name, v.public) != hash {
		return nil, errors.New("cosignature key hash does not match")
	}
	return v, nil
}

func newCosigner(skey string, timestamp uint64) (note.Signer, error) {
	if !strings.HasPrefix(skey, "PRIVATE+KEY+") {
		return nil, errors.New("malformed signer key")
	}
	name, hash, keyType, seed, err := splitKey(strings.TrimPrefix(skey, "PRIVATE+KEY+"))
	if err != nil {
		return nil, err
	}
	if keyType != cosignatureType || len(seed) != ed25519.SeedSize {
		return nil, errors.New("not an Ed25519 cosignature key")
	}
	private := ed25519.NewKeyFromSeed(seed)
	if cosignatureKeyHash(name, private.Public().(ed25519.PublicKey)) != hash {
		return nil, errors.New("cosignature key hash does not match")
	}
	return &cosigner{name: name, hash: hash, private: private, timestamp: timestamp}, nil
}

func main() {
	if len(os.Args) < 3 {
		fail(fmt.Errorf("usage: note_interop verify VKEY... | note_interop sign SKEY..."))
	}
	input, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail(err)
	}
	var output []byte
	switch os.Args[1] {
	case "verify":
		output, err = verify(input, os.Args[2:])
	case "sign":
		output, err = sign(input, os.Args[2:])
	case "signers":
		output, err = signers(input, os.Args[2:])
	case "cosign":
		output, err = cosign(input, os.Args[2], os.Args[3:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fail(err)
	}
	os.Stdout.Write(output)
}

func open(message []byte, vkeys []string) (*note.Note, error) {
	var verifiers []note.Verifier
	for _, vkey := range vkeys {
		v, err := newVerifier(vkey)
		if err != nil {
			return nil, err
		}
		verifiers = append(verifiers, v)
	}
	return note.Open(message, note.VerifierList(verifiers...))
}

func verify(message []byte, vkeys []string) ([]byte, error) {
	n, err := open(message, vkeys)
	if err != nil {
		return nil, err
	}
	return []byte(n.Text), nil
}

func signers(message []byte, vkeys []string) ([]byte, error) {
	n, err := open(message, vkeys)
	if err != nil {
		return nil, err
	}
	var names []byte
	for _, sig := range n.Sigs {
		names = append(names, sig.Name+"\n"...)
	}
	return names, nil
}

// cosign adds cosignatures to a signed note, keeping its signatures (Go's note.Sign re-signs a
// note's text and appends the new lines after the existing, unverified, ones).
func cosign(message []byte, timestamp string, skeys []string) ([]byte, error) {
	t, err := strconv.ParseUint(timestamp, 10, 63)
	if err != nil {
		return nil, err
	}
	n, err := note.Open(message, note.VerifierList())
	var unverified *note.UnverifiedNoteError
	if !errors.As(err, &unverified) {
		return nil, fmt.Errorf("not a signed note: %v", err)
	}
	n = unverified.Note
	var cosigners []note.Signer
	for _, skey := range skeys {
		s, err := newCosigner(skey, t)
		if err != nil {
			return nil, err
		}
		cosigners = append(cosigners, s)
	}
	return note.Sign(n, cosigners...)
}

func sign(text []byte, skeys []string) ([]byte, error) {
	var signers []note.Signer
	for _, skey := range skeys {
		s, err := note.NewSigner(skey)
		if err != nil {
			return nil, err
		}
		signers = append(signers, s)
	}
	return note.Sign(&note.Note{Text: string(text)}, signers...)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "note_interop:", err)
	os.Exit(1)
}
