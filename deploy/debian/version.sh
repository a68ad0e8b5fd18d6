#!/bin/sh
# SPDX-License-Identifier: MIT
# Prints the Debian version of the git checkout it runs in (`make deb`; docs/deploy.md):
#   HEAD tagged vX.Y.Z                     X.Y.Z
#   N commits after the tag vX.Y.Z         X.Y.Z+git<YYYYMMDD>.<N>.<hash>
#   no v* tag (today)                      0.0~git<YYYYMMDD>.<C>.<hash>
# YYYYMMDD is HEAD's commit date (UTC), C the number of commits up to HEAD, hash its short
# hash: each later commit of a branch sorts higher (dpkg --compare-versions), and a tag
# X.Y.Z sorts above every 0.0~git version before it. Exit 1 outside a git checkout.
set -eu

git rev-parse --git-dir >/dev/null 2>&1 || {
	echo "version.sh: not a git checkout: give the version (make deb DEB_VERSION=...)" >&2
	exit 1
}
[ "$(git rev-parse --is-shallow-repository)" = true ] &&
	echo "version.sh: a shallow clone: the commit count (and so the version) is too low" >&2
date=$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y%m%d HEAD)
hash=$(git rev-parse --short=7 HEAD)
if desc=$(git describe --tags --long --match 'v[0-9]*' HEAD 2>/dev/null); then
	n=${desc%-g*}
	n=${n##*-}
	tag=${desc%-*-g*}
	tag=${tag#v}
	if [ "$n" = 0 ]; then
		echo "$tag"
	else
		echo "$tag+git$date.$n.$hash"
	fi
else
	echo "0.0~git$date.$(git rev-list --count HEAD).$hash"
fi
