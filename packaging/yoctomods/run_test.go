package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunFollowsSRCREV plays the life of the recipe in a scratch repository: pin, add a
// dependency, see the check fail with the command that fixes it, run that command. The new
// dependency (creack/goselect) comes from the module cache, which building this repository
// fills; GOPROXY=off keeps the test off the network.
func TestRunFollowsSRCREV(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	cache, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(strings.TrimSpace(string(cache)), "cache/download/github.com/creack/goselect/@v/v0.1.2.zip")); err != nil {
		t.Skipf("goselect v0.1.2 not in the module cache (run go mod download): %v", err)
	}
	repo := t.TempDir()
	copyTree(t, "../../yocto", filepath.Join(repo, "yocto"))
	copyFile(t, "../../LICENSE", filepath.Join(repo, "LICENSE"))
	writeFile(t, repo, "go.mod", "module github.com/fluentbit-go/fluentbit-go\n\ngo 1.24.0\n")
	writeFile(t, repo, "cmd/fluentbit/main.go", "package main\n\nfunc main() {}\n")
	t.Chdir(repo)
	t.Setenv("GOPROXY", "off")
	t.Setenv("GOFLAGS", "-mod=readonly")
	t.Setenv("GIT_AUTHOR_NAME", "t")
	t.Setenv("GIT_AUTHOR_EMAIL", "t@example.org")
	t.Setenv("GIT_COMMITTER_NAME", "t")
	t.Setenv("GIT_COMMITTER_EMAIL", "t@example.org")
	git(t, "init", "-q", "-b", "main")
	commit(t, "start")

	mustRun(t, false, true) // -bump
	commit(t, "yocto: bump")
	mustRun(t, false, false)
	pinned := head(t)

	// A dependency arrives (as a merge from another branch would bring it).
	writeFile(t, repo, "go.mod", "module github.com/fluentbit-go/fluentbit-go\n\ngo 1.24.0\n\nrequire github.com/creack/goselect v0.1.2\n")
	writeFile(t, repo, "go.sum", "github.com/creack/goselect v0.1.2 h1:2DNy14+JPjRBgPzAd1thbQp4BSIihxcBf0IXhQXDRa0=\n"+
		"github.com/creack/goselect v0.1.2/go.mod h1:a/NhLweNvqIYMuxcMOuWY516Cimucms3DglDzQP3hKY=\n")
	writeFile(t, repo, "cmd/fluentbit/main.go", "package main\n\nimport _ \"github.com/creack/goselect\"\n\nfunc main() {}\n")

	// Uncommitted, -bump refuses: SRCREV would not have the new go.mod.
	if err := run(io.Discard, false, true, "HEAD"); err == nil || !strings.Contains(err.Error(), "uncommitted") {
		t.Fatalf("-bump with go.mod uncommitted: %v, want a refusal", err)
	}
	commit(t, "add goselect")
	err = run(io.Discard, false, false, "HEAD")
	for _, want := range []string{
		"go run ./packaging/yoctomods -bump",
		"+ gomod://github.com/creack/goselect;version=v0.1.2;sha256sum=",
		"+ file://pkg/mod/github.com/creack/goselect@v0.1.2/LICENSE;md5=53145d9bb75251a18e111de5d23803e6;spdx=MIT",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("check after adding a module: %v\nwant it to say %q", err, want)
		}
	}
	// -write alone regenerates for the old SRCREV and still fails: the pin is stale.
	if err := run(io.Discard, true, false, "HEAD"); err == nil || !strings.Contains(err.Error(), "-bump") {
		t.Fatalf("-write with a stale pin: %v, want the -bump hint", err)
	}
	mustRun(t, false, true)
	commit(t, "yocto: bump")
	mustRun(t, false, false)
	lics, err := os.ReadFile(licIncPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(lics), `LICENSE += "& MIT"`) {
		t.Errorf("licenses.inc after the bump does not add MIT:\n%s", lics)
	}

	// -rev pins a named commit: the one before the dependency, whose modules differ.
	if err := run(io.Discard, false, true, pinned); err == nil || !strings.Contains(err.Error(), "this tree's modules differ") {
		t.Fatalf("-bump -rev %s: %v, want the stale report", pinned, err)
	}
	mustRun(t, false, true) // back to HEAD
	commit(t, "yocto: bump")

	// A hand edit of a generated list.
	mods, err := os.ReadFile(modsIncPath)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, repo, modsIncPath, strings.Replace(string(mods), "sha256sum=", "sha256sum=0", 1))
	if err := run(io.Discard, false, false, "HEAD"); err == nil || !strings.Contains(err.Error(), "-write") {
		t.Fatalf("check after a hand edit: %v, want the -write hint", err)
	}
	git(t, "checkout", "--", modsIncPath)

	// SRCREV on a branch the recipe's branch does not contain.
	git(t, "checkout", "-q", "-b", "side", pinned)
	writeFile(t, repo, "side.txt", "x")
	commit(t, "side")
	side := head(t)
	git(t, "checkout", "-q", "main")
	bb, err := os.ReadFile(recipe)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, repo, recipe, srcrevRE.ReplaceAllString(string(bb), `SRCREV = "`+side+`"`))
	if err := run(io.Discard, false, false, "HEAD"); err == nil || !strings.Contains(err.Error(), "not in HEAD's history") {
		t.Fatalf("SRCREV off the branch: %v, want a history error", err)
	}
}

func mustRun(t *testing.T, write, bump bool) {
	t.Helper()
	if err := run(io.Discard, write, bump, "HEAD"); err != nil {
		t.Fatalf("run(write=%v, bump=%v): %v", write, bump, err)
	}
}

func git(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func commit(t *testing.T, msg string) {
	t.Helper()
	git(t, "add", "-A")
	git(t, "commit", "-q", "-m", msg)
}

func head(t *testing.T) string { t.Helper(); return git(t, "rev-parse", "HEAD") }

func writeFile(t *testing.T, dir, rel, text string) {
	t.Helper()
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Dir(to), filepath.Base(to), string(data))
}

func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(from, path)
		if err != nil {
			return err
		}
		copyFile(t, path, filepath.Join(to, rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
