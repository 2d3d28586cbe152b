// Command note_interop checks this project's signed notes against Go's reference implementation,
// golang.org/x/mod/sumdb/note, which shares no code with crypto/note.py.
//
//	note_interop verify VKEY...  reads a signed note on stdin; prints its text if note.Open accepts it
//	note_interop sign SKEY...    reads a note text on stdin; prints it signed by every key
//
// Any failure prints the Go error on stderr and exits with status 1.
package main

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/mod/sumdb/note"
)

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
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fail(err)
	}
	os.Stdout.Write(output)
}

func verify(message []byte, vkeys []string) ([]byte, error) {
	var verifiers []note.Verifier
	for _, vkey := range vkeys {
		v, err := note.NewVerifier(vkey)
		if err != nil {
			return nil, err
		}
		verifiers = append(verifiers, v)
	}
	n, err := note.Open(message, note.VerifierList(verifiers...))
	if err != nil {
		return nil, err
	}
	return []byte(n.Text), nil
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
