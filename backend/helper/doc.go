// Package helper owns the macOS powermetrics privileged helper: a root
// daemon that does one thing, run /usr/bin/powermetrics with a fixed argv and
// relay its NUL-separated plists to the app over a unix socket.
//
// The pieces are:
//   - the wire protocol (protocol.go): versioned, length-prefixed frames;
//   - the powermetrics argv (argv.go): fixed flags, interval clamped to
//     100–10000 ms, no -o, no file paths, no shell;
//   - the server (server.go): peer-uid check, one child per connection,
//     killed on disconnect, idle timeout;
//   - the client (client.go): Dial a socket and read the raw plist stream as
//     an io.Reader, for the power package's powermetrics parser;
//   - installation (install*.go): SMAppService on macOS 13+, with an
//     osascript LaunchDaemon fallback and a pinned sudoers rule documented.
//
// Everything except SMAppService and osascript runs on Linux too, so the
// protocol and the relay are tested there with a fake powermetrics.
package helper
