package main

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/vpcmesh/vpcmesh/discovery/cert"
)

func caRevokeCmd() *cobra.Command {
	var rootKey, authority, mesh, list, out string
	cmd := &cobra.Command{
		Use:   "revoke --root-key FILE | --authority DIR  (--mesh NAME | --list CURRENT.pem) -o FILE CERT...",
		Short: "Sign a revocation list: the given certificates (and those of --list) are refused everywhere",
		Long: "Give the list to any one gateway as mesh.revocations_file and reload it; gossip takes it\n" +
			"to every gateway, which drop the revoked ones' tunnels and routes. A project authority\n" +
			"(--authority) revokes the gateways it signed, and no others, without the root key.",
		RunE: func(cmd *cobra.Command, certs []string) error {
			switch {
			case (rootKey == "") == (authority == "") || out == "":
				return usageError{errors.New("ca revoke: give --root-key FILE or --authority DIR, and -o FILE")}
			case mesh == "" && list == "":
				return usageError{errors.New("ca revoke: give --mesh NAME, or --list with the current list")}
			case len(certs) == 0:
				return usageError{errors.New("ca revoke: name at least one certificate file to revoke")}
			}
			iss, err := loadIssuer(signFlags{rootKey: rootKey, authority: authority})
			if err != nil {
				return err
			}
			body := cert.RevocationBody{Mesh: mesh, Serial: 1, Issued: time.Now()}
			if list != "" {
				old, err := cert.ReadRevocationsFile(list)
				if err != nil {
					return err
				}
				if mesh != "" && old.Body.Mesh != mesh {
					return fmt.Errorf("--list %s is for mesh %q, not %q", list, old.Body.Mesh, mesh)
				}
				if want := cert.KeyID(iss.key.Public().(ed25519.PublicKey)); old.Body.Issuer != want {
					return fmt.Errorf("--list %s was signed by key %s, not by %s: give the list this issuer signed", list, old.Body.Issuer, iss.desc)
				}
				body.Mesh, body.Serial, body.Revoked = old.Body.Mesh, old.Body.Serial+1, old.Body.Revoked
			}
			w := cmd.OutOrStdout()
			for _, f := range certs {
				chain, err := cert.ReadChainFile(f)
				if err != nil {
					return err
				}
				if chain[0].Body.Mesh != body.Mesh {
					return fmt.Errorf("%s is a certificate of mesh %q, not %q", f, chain[0].Body.Mesh, body.Mesh)
				}
				// An authority's list revokes only what it signed; saying
				// so here beats a list that silently does nothing.
				if iss.chain != nil && chain[0].Body.Issuer != cert.KeyID(iss.key.Public().(ed25519.PublicKey)) {
					return fmt.Errorf("%s: %s %q was not signed by %s: only its issuer or the mesh root can revoke it", f, chain[0].Body.Kind, chain[0].Body.Name, iss.desc)
				}
				body.Revoked = append(body.Revoked, cert.Fingerprint(chain[0]))
				fmt.Fprintf(w, "revoked %s %q (%s)\n", chain[0].Body.Kind, chain[0].Body.Name, cert.Fingerprint(chain[0]))
			}
			var r *cert.Revocations
			if iss.chain == nil {
				r, err = cert.SignRevocations(body, iss.key)
			} else {
				r, err = cert.SignAuthorityRevocations(body, iss.chain[0], iss.key)
			}
			if err != nil {
				return err
			}
			if err := cert.WriteRevocationsFile(out, r); err != nil {
				return err
			}
			fmt.Fprintf(w, "revocation list %d of mesh %q by %s, %d certificates: wrote %s\n", r.Body.Serial, r.Body.Mesh, iss.desc, len(r.Body.Revoked), out)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&rootKey, "root-key", "", "the mesh's root private key")
	fl.StringVar(&authority, "authority", "", "revoke as this project authority (a directory from ca authority): its own gateways only")
	fl.StringVar(&mesh, "mesh", "", "the mesh's name (for a first list)")
	fl.StringVar(&list, "list", "", "the current revocation list: its entries are kept and the serial raised")
	fl.StringVarP(&out, "output", "o", "", "revocation list file to write")
	return cmd
}
