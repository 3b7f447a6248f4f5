#!/usr/bin/env bash
# The import rules of docs/architecture.md, over `go list -test`: it fails naming each
# offending import and the chain of imports that leads to it.
#
#   1. pipeline/ (all its packages, tests included) never imports a plugin: inputs/,
#      filters/, outputs/, plugins/.
#   2. A plugin never imports another plugin kind's packages (inputs/* never imports
#      filters/* or outputs/*, and so on) nor plugins/; code two kinds share lives in
#      internal/. Tests are exempt: a test may use another kind as its real peer (the
#      forward output's tests talk to the forward input).
#   3. internal/ (shared code) never imports a plugin.
#   4. event/ and embedhttp/ (tests included) import nothing of the engine: pipeline,
#      config, inputs, filters, outputs, monitor, plugins, cmd, the root package.
#
# The rules hold for every import, direct or not: pipeline importing a package that
# imports a plugin breaks rule 1 as surely as importing the plugin. Any POSIX awk does
# (gawk, mawk; AWK=mawk picks one).
set -euo pipefail
cd "$(dirname "$0")/.."

mod=$(go list -m)
# One line per package, test variants included: path|import,import,...
list=$(go list -test -f '{{.ImportPath}}|{{join .Imports ","}}' ./...)

out=$(${AWK:-awk} -v mod="$mod" '
BEGIN {
	FS = "|"
	split("inputs filters outputs plugins", a, " ")
	for (i in a) plugin[a[i]] = 1
	split("pipeline config inputs filters outputs monitor plugins cmd .", a, " ")
	for (i in a) engine[a[i]] = 1
}
# rel gives a package path relative to the module ("." for the root package), or "" for
# a package outside the module; a test variant'"'"'s " [p.test]" suffix is dropped.
function rel(path) {
	sub(/ \[.*\]$/, "", path)
	if (path == mod) return "."
	if (index(path, mod "/") == 1) return substr(path, length(mod) + 2)
	return ""
}
function top(path,   parts) {
	split(path, parts, "/")
	return parts[1]
}
# rule returns why p may not import q, or "".
function rule(from, to, intest,   kp, kq) {
	kp = top(from); kq = top(to)
	if (kp == "pipeline" && (kq in plugin))
		return "pipeline/ never imports a plugin (inputs/, filters/, outputs/, plugins/)"
	if (!intest && (kp in plugin) && kp != "plugins" && kq != kp && (kq in plugin))
		return "a plugin never imports another plugin kind (shared code goes in internal/)"
	if (!intest && kp == "internal" && (kq in plugin))
		return "internal/ (shared code) never imports a plugin"
	if ((kp == "event" || kp == "embedhttp") && (kq in engine))
		return kp "/ imports nothing of the engine (pipeline, config, plugins, monitor, cmd, the root package)"
	return ""
}
function show(path) { return path == "." ? "the root package" : path }
# check walks everything pkg imports, starting from the space-separated list start, and
# reports each import a rule forbids, with the chain that leads to it. Each walk keys its
# visited set by a run number.
function check(pkg, start, intest,   run, cnt, ed, k, cur, why, head, tail, chain, x) {
	run = ++runs
	head = tail = 0
	cnt = split(start, ed, " ")
	for (k = 1; k <= cnt; k++)
		if (!((run, ed[k]) in seen)) { seen[run, ed[k]] = 1; parent[run, ed[k]] = pkg; queue[run, tail++] = ed[k] }
	while (head < tail) {
		cur = queue[run, head++]
		why = rule(pkg, cur, intest)
		if (why != "" && !((pkg, cur) in reported)) {
			reported[pkg, cur] = 1
			chain = show(cur)
			for (x = parent[run, cur]; x != pkg; x = parent[run, x]) chain = show(x) " -> " chain
			printf "%s imports %s%s: %s\n", show(pkg), chain, intest ? " (in its tests)" : "", why
		}
		cnt = (cur in imp) ? split(imp[cur], ed, " ") : 0
		for (k = 1; k <= cnt; k++)
			if (!((run, ed[k]) in seen)) { seen[run, ed[k]] = 1; parent[run, ed[k]] = cur; queue[run, tail++] = ed[k] }
	}
}
{
	if ($1 ~ /\.test$/) next # the generated test main
	test = ($1 ~ / \[/)
	p = rel($1)
	if (p == "") next
	if (test) sub(/_test$/, "", p)
	pkgs[p] = 1
	n = split($2, e, ",")
	for (i = 1; i <= n; i++) {
		q = rel(e[i])
		if (q == "" || q == p) continue
		if (test) timp[p] = timp[p] " " q
		else imp[p] = imp[p] " " q
	}
}
END {
	for (p in pkgs) names[npkgs++] = p
	for (j = 0; j < npkgs; j++) {
		p = names[j]
		direct = (p in imp) ? imp[p] : ""
		check(p, direct, 0)
		check(p, direct ((p in timp) ? timp[p] : ""), 1)
	}
}
' <<<"$list" | sort)

if [ -n "$out" ]; then
	echo "import rules broken (see .ci/imports.sh and docs/architecture.md):"
	echo "$out"
	exit 1
fi
echo "import rules hold"
