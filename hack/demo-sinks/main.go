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

// Command demo-sinks plays the customers' side of `make demo`: an HTTPS
// webhook receiver that checks each notice's signature, a mail server
// (STARTTLS, AUTH) and an object store for the exports, all on the real
// node's bridge address, where the operator's pods reach them. It prints
// each notice, mail and stored archive as it arrives, and writes what the
// demo's withdrawal needs (addresses, certificates, credentials) into -dir.
// It runs until SIGINT or SIGTERM.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"filippo.io/age"

	"github.com/ops-dev/region-withdrawal-operator/test/testsrv"
)

func main() {
	host := flag.String("host", "10.244.0.1", "address to listen on (the real node's bridge)")
	dir := flag.String("dir", "", "directory to write sinks.env and the certificates into (required)")
	keyFile := flag.String("hmac-key-file", "", "file holding the webhook signing key (required)")
	flag.Parse()
	if err := run(*host, *dir, *keyFile); err != nil {
		fmt.Fprintln(os.Stderr, "demo-sinks:", err)
		os.Exit(1)
	}
}

func run(host, dir, keyFile string) error {
	if dir == "" || keyFile == "" {
		return fmt.Errorf("-dir and -hmac-key-file are required")
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		return err
	}
	key = bytes.TrimSpace(key)
	say := func(format string, args ...any) {
		fmt.Printf("%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	}

	hook, err := testsrv.NewWebhookAt(host, key)
	if err != nil {
		return err
	}
	defer hook.Close()
	hook.OnAccept = func(d testsrv.Delivery) {
		sig := "signature ok"
		if !d.Signature {
			sig = "BAD SIGNATURE"
		}
		say("webhook  %-8s %-10s %s, key %.12s…  %q", d.Body.Recipient.ID, d.Body.Notice.ID, sig, d.Key, d.Body.Subject)
	}
	smtpSrv, err := testsrv.NewSMTPAt(host, true)
	if err != nil {
		return err
	}
	defer smtpSrv.Close()
	smtpSrv.OnMail = func(m testsrv.Mail) {
		subject := "(unreadable)"
		if msg, err := mail.ReadMessage(bytes.NewReader(m.Data)); err == nil {
			if dec, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err == nil {
				subject = dec
			}
		}
		say("email    %-30s %q", m.To, subject)
	}
	store, err := testsrv.NewObjectStore(host)
	if err != nil {
		return err
	}
	defer store.Close()
	// The customer's own key: the archive is encrypted to it, and only
	// the customer can open it.
	identity, err := age.GenerateX25519Identity()
	if err != nil {
		return err
	}
	store.OnPut = func(path string, body []byte) {
		say("export   stored %s: %d bytes, sha256 %x", path, len(body), sha256.Sum256(body))
		files, err := archiveFiles(body, identity)
		if err != nil {
			say("export   %s does not open with the customer's key: %v", path, err)
			return
		}
		say("export   %s decrypts with the customer's age key: %s", path, strings.Join(files, ", "))
	}

	files := map[string][]byte{
		"webhook-ca.pem": hook.CAPEM(),
		"smtp-ca.pem":    smtpSrv.CertPEM,
		"sinks.env": fmt.Appendf(nil, "WEBHOOK_URL=%s/hook\nSMTP_HOST=%s\nSMTP_PORT=%d\nSMTP_USERNAME=%s\nSMTP_PASSWORD=%s\nSTORE_URL=%s\nAGE_RECIPIENT=%s\n",
			hook.Server.URL, host, smtpSrv.Addr.Port, smtpSrv.Username, smtpSrv.Password, store.URL, identity.Recipient()),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return err
		}
	}
	say("customers' side ready: webhooks %s, mail %s:%d, exports %s", hook.Server.URL, host, smtpSrv.Addr.Port, store.URL)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	total, bad := hook.Totals()
	say("stopping: %d webhook deliveries (%d with a bad signature), %d mails", total, bad, len(smtpSrv.Mails()))
	return nil
}

// archiveFiles decrypts an export and lists the files in it.
func archiveFiles(body []byte, identity age.Identity) ([]string, error) {
	plain, err := age.Decrypt(bytes.NewReader(body), identity)
	if err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(plain)
	if err != nil {
		return nil, err
	}
	var names []string
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names, nil
		}
		if err != nil {
			return nil, err
		}
		if h.Typeflag == tar.TypeReg {
			names = append(names, fmt.Sprintf("%s (%d bytes)", h.Name, h.Size))
		}
	}
}
