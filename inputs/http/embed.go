package http

import (
	"context"
	"net"
)

// defaultServer is the server used when the server key is not set.
const defaultServer = ServerNetHTTP

// serveEmbed serves on embedhttp.
func (in *Input) serveEmbed(ctx context.Context, ln net.Listener) error {
	return in.serveNetHTTP(ctx, ln)
}
