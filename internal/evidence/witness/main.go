/*
Copyright 2026 The region-withdrawal-operator Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package witness

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

// Name is the subcommand of the operator's binary that runs a witness.
const Name = "witness"

// Main runs the witness until SIGTERM or SIGINT, or with "keygen NAME"
// makes its key pair.
func Main(args []string) error {
	if len(args) > 0 && args[0] == "keygen" {
		return Keygen(os.Stdout, args[1:])
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, args, nil)
}

// Run serves the witness until ctx ends; ready, when set, is told the
// address it listens on.
func Run(ctx context.Context, args []string, ready func(addr string)) error {
	fs := flag.NewFlagSet(Name, flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8090", "Address to serve POST "+Path+" on.")
	keyFile := fs.String("key-file", "", "File holding the witness's signer key (witness keygen writes it).")
	logKeys := fs.String("log-key", "", "Comma-separated verifier keys of the logs to witness: the operator's evidence key (kubectl withdrawal evidence key).")
	state := fs.String("state-file", "", "File the witness keeps what it cosigned in; it must survive restarts.")
	certFile := fs.String("tls-cert-file", "", "TLS certificate to serve with; plain HTTP without it.")
	tlsKeyFile := fs.String("tls-key-file", "", "TLS key to serve with.")
	if err := fs.Parse(args); err != nil {
		return err
	}
	w, err := newWitness(*keyFile, *logKeys, *state)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", *listen, err)
	}
	srv := &http.Server{Handler: w, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	fmt.Fprintf(os.Stderr, "witness %s serving on %s\n", w.Signer.Name(), ln.Addr())
	if ready != nil {
		ready(ln.Addr().String())
	}
	if *certFile != "" {
		err = srv.ServeTLS(ln, *certFile, *tlsKeyFile)
	} else {
		err = srv.Serve(ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func newWitness(keyFile, logKeys, state string) (*Witness, error) {
	if keyFile == "" || logKeys == "" || state == "" {
		return nil, errors.New("--key-file, --log-key and --state-file are required")
	}
	skey, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, err
	}
	signer, err := fnote.NewSignerForCosignatureV1(strings.TrimSpace(string(skey)))
	if err != nil {
		return nil, fmt.Errorf("--key-file: %w", err)
	}
	var vs []note.Verifier
	for _, k := range strings.Split(logKeys, ",") {
		v, err := note.NewVerifier(strings.TrimSpace(k))
		if err != nil {
			return nil, fmt.Errorf("--log-key %q: %w", k, err)
		}
		vs = append(vs, v)
	}
	return &Witness{Signer: signer, Logs: note.VerifierList(vs...), Store: &FileStore{Path: state}}, nil
}

// Keygen is "witness keygen": it writes a new signer key to the file
// named by --out and prints its cosignature/v1 verifier key, which
// auditors pass to verify --witness-key.
func Keygen(out io.Writer, args []string) error {
	fs := flag.NewFlagSet(Name+" keygen", flag.ContinueOnError)
	file := fs.String("out", "witness.key", "File to write the signer key to (mode 0600).")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: witness keygen [--out FILE] NAME (a name such as witness.example.com)")
	}
	skey, vkey, err := note.GenerateKey(rand.Reader, fs.Arg(0))
	if err != nil {
		return err
	}
	cosig, err := fnote.VKeyToCosignatureV1(vkey)
	if err != nil {
		return err
	}
	if err := os.WriteFile(*file, []byte(skey+"\n"), 0o600); err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, cosig)
	return err
}
