// bbolt-check: a read-only structural-check oracle for bbolt files.
//
// Usage: bbolt-check FILE
//
// Opens FILE read-only (it never writes to it), runs bbolt's tx.Check()
// and prints every error on its own line (exit status 1), or prints "OK"
// (exit status 0). Exit status 2 means the file could not be opened.
//
// Built by scripts/get-etcd.sh with Debian's golang-go in GOPATH mode
// (GO111MODULE=off) against Debian's golang-github-coreos-bbolt-dev, whose
// import path is go.etcd.io/bbolt.
package main

import (
	"fmt"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: bbolt-check FILE")
		os.Exit(2)
	}
	path := os.Args[1]
	if _, err := os.Stat(path); err != nil {
		fmt.Fprintln(os.Stderr, "bbolt-check:", err)
		os.Exit(2)
	}
	// ReadOnly: no write lock, no freelist write-back, file opened O_RDONLY.
	// Timeout bounds the wait for the shared flock.
	db, err := bolt.Open(path, 0444, &bolt.Options{ReadOnly: true, Timeout: 10 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, "bbolt-check: open:", err)
		os.Exit(2)
	}
	defer db.Close()

	count := 0
	err = db.View(func(tx *bolt.Tx) error {
		for cerr := range tx.Check() {
			fmt.Println(cerr)
			count++
		}
		return nil
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "bbolt-check: view:", err)
		db.Close()
		os.Exit(2)
	}
	if count > 0 {
		db.Close()
		os.Exit(1)
	}
	fmt.Println("OK")
}
