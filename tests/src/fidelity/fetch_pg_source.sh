# Fetches PostgreSQL 15's source package into $1 with a private apt source list and state
# directory (the system's apt setup is untouched), trying the versions the mirror lists from
# the newest down (a security mirror may list a version it does not serve), and unpacks
# src/test/regress of the first that downloads.
set -euo pipefail
cache=$(mkdir -p "$1" && cd "$1" && pwd)
apt_dir=$cache/apt
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$cache/download"
suites=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
cat >"$apt_dir/sources.list" <<SRC
deb-src http://deb.debian.org/debian $suites main
deb-src http://deb.debian.org/debian-security $suites-security main
deb-src http://deb.debian.org/debian $suites-updates main
SRC
opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o Debug::NoLocking=1)
apt-get "${opts[@]}" -q update >&2
cd "$cache/download"
for v in $(apt-cache "${opts[@]}" showsrc postgresql-15 | sed -n 's/^Version: //p' | sort -rV); do
  if apt-get "${opts[@]}" -q source --download-only "postgresql-15=$v" >&2; then
    upstream=${v%-*}
    tar -C "$cache" -xjf "postgresql-15_$upstream.orig.tar.bz2" "postgresql-$upstream/src/test/regress"
    exit 0
  fi
done
echo "no postgresql-15 source could be downloaded" >&2
exit 1
