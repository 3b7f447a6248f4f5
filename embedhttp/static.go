package embedhttp

import "strconv"

var statusTexts = map[int]string{
	100: "Continue",
	200: "OK", 201: "Created", 202: "Accepted", 204: "No Content",
	206: "Partial Content",
	301: "Moved Permanently", 302: "Found", 304: "Not Modified", 307: "Temporary Redirect",
	308: "Permanent Redirect",
	400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
	405: "Method Not Allowed", 408: "Request Timeout", 409: "Conflict", 411: "Length Required",
	413: "Content Too Large", 414: "URI Too Long", 415: "Unsupported Media Type",
	417: "Expectation Failed", 422: "Unprocessable Content", 429: "Too Many Requests",
	431: "Request Header Fields Too Large",
	500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway",
	503: "Service Unavailable", 504: "Gateway Timeout", 505: "HTTP Version Not Supported",
}

// StatusText returns the reason phrase for code, or "Status" when unknown.
func StatusText(code int) string { return statusText(code) }

func statusText(code int) string {
	if s, ok := statusTexts[code]; ok {
		return s
	}
	return "Status"
}

// statusLines holds prebuilt "HTTP/1.1 200 OK\r\n" lines for the known codes.
var statusLines = func() map[int][]byte {
	m := make(map[int][]byte, len(statusTexts))
	for code, text := range statusTexts {
		m[code] = []byte("HTTP/1.1 " + strconv.Itoa(code) + " " + text + "\r\n")
	}
	return m
}()

func appendStatusLine(b []byte, code int) []byte {
	if l, ok := statusLines[code]; ok {
		return append(b, l...)
	}
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(code), 10)
	return append(b, " Status\r\n"...)
}

// errorResponse is a prebuilt response the server sends on its own (malformed
// requests, limits, timeouts): everything but the Date line is built once.
type errorResponse struct {
	head []byte // status line and fixed headers, ending before the Date line
	tail []byte // "\r\n" + body
}

var errorResponses = func() map[int]errorResponse {
	m := map[int]errorResponse{}
	for _, code := range []int{400, 401, 403, 404, 408, 413, 415, 417, 431, 500, 501, 503, 505} {
		body := statusText(code) + "\n"
		extra := ""
		if code == 503 {
			extra = "Retry-After: 1\r\n"
		}
		m[code] = errorResponse{
			head: []byte("HTTP/1.1 " + strconv.Itoa(code) + " " + statusText(code) + "\r\n" + extra +
				"Content-Type: text/plain; charset=utf-8\r\n" +
				"Content-Length: " + strconv.Itoa(len(body)) + "\r\n" +
				"Connection: close\r\n"),
			tail: []byte("\r\n" + body),
		}
	}
	return m
}()

var continueResponse = []byte("HTTP/1.1 100 Continue\r\n\r\n")
