//go:build !linux

package server

import "net"

// oobSize: no control messages are asked for outside Linux.
const oobSize = 0

// enablePktinfo is not implemented outside Linux: a socket bound to a
// wildcard address answers from the source address the kernel picks, which
// is right unless the host has several addresses on one route.
func enablePktinfo(*net.UDPConn) bool { return false }

func replyOOB(_, _ []byte) []byte { return nil }
