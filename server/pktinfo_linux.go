package server

import (
	"net"
	"syscall"
	"unsafe"
)

// oobSize holds one IPv4 or IPv6 packet-information control message.
var oobSize = syscall.CmsgSpace(max(syscall.SizeofInet4Pktinfo, syscall.SizeofInet6Pktinfo))

// enablePktinfo asks the kernel for the destination address of each
// datagram, so that a socket bound to a wildcard address answers from the
// address the query was sent to: a client drops an answer from any other
// (RFC 1122 §4.1.3.5 leaves the choice of source to the application). A
// dual-stack socket gets both kinds, so both are asked for.
func enablePktinfo(c *net.UDPConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	ok := false
	rc.Control(func(fd uintptr) { //nolint:errcheck // the result is ok
		e4 := syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_PKTINFO, 1)
		e6 := syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IPV6, syscall.IPV6_RECVPKTINFO, 1)
		ok = e4 == nil || e6 == nil
	})
	return ok
}

// replyOOB turns the control messages received with a query into the one
// that sends the answer from the query's destination address, written into
// dst; nil when there is none. It does not allocate.
func replyOOB(dst, oob []byte) []byte {
	hdr := syscall.CmsgLen(0)
	for len(oob) >= hdr {
		h := (*syscall.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < hdr || l > len(oob) {
			return nil
		}
		data := oob[hdr:l]
		switch {
		case h.Level == syscall.IPPROTO_IP && h.Type == syscall.IP_PKTINFO && len(data) >= syscall.SizeofInet4Pktinfo:
			in := (*syscall.Inet4Pktinfo)(unsafe.Pointer(&data[0]))
			out := cmsg(dst, syscall.IPPROTO_IP, syscall.IP_PKTINFO, syscall.SizeofInet4Pktinfo)
			*(*syscall.Inet4Pktinfo)(unsafe.Pointer(&out[hdr])) = syscall.Inet4Pktinfo{Spec_dst: in.Addr}
			return out
		case h.Level == syscall.IPPROTO_IPV6 && h.Type == syscall.IPV6_PKTINFO && len(data) >= syscall.SizeofInet6Pktinfo:
			in := (*syscall.Inet6Pktinfo)(unsafe.Pointer(&data[0]))
			out := cmsg(dst, syscall.IPPROTO_IPV6, syscall.IPV6_PKTINFO, syscall.SizeofInet6Pktinfo)
			*(*syscall.Inet6Pktinfo)(unsafe.Pointer(&out[hdr])) = syscall.Inet6Pktinfo{Addr: in.Addr}
			return out
		}
		next := syscall.CmsgSpace(l - hdr)
		if next > len(oob) {
			return nil
		}
		oob = oob[next:]
	}
	return nil
}

// cmsg lays a control message header for n bytes of data into dst.
func cmsg(dst []byte, level, typ int32, n int) []byte {
	out := dst[:syscall.CmsgSpace(n)]
	clear(out)
	h := (*syscall.Cmsghdr)(unsafe.Pointer(&out[0]))
	h.Level, h.Type = level, typ
	h.SetLen(syscall.CmsgLen(n))
	return out
}
