# Shared by scripts/setup.sh, scripts/setup-cross.sh and scripts/setup-nodes.sh
# (sourced, not run): the two install steps they all take.

# apt_install TAG PKG...: installs the Debian packages not installed yet
# (with sudo unless root), saying which as "TAG: installing ...".
apt_install() {
  local tag="$1" p missing=() sudo=""
  shift
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "$tag: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# npm_prefix TAG DIR STAMP SPEC...: installs the npm packages SPEC... into
# the prefix DIR (under .cache/, never the project's node_modules), unless
# DIR/stamp already holds STAMP. --force: the packages may declare another
# os/cpu than this machine's. One install for all: npm removes what a later
# --no-save install does not name.
npm_prefix() {
  local tag="$1" dir="$2" stamp="$3"
  shift 3
  if [ -f "$dir/stamp" ] && [ "$(cat "$dir/stamp")" = "$stamp" ]; then return 0; fi
  echo "$tag: installing $* into $dir"
  rm -rf "$dir"
  mkdir -p "$dir"
  echo '{ "private": true }' >"$dir/package.json"
  npm install --prefix "$dir" --no-save --no-package-lock --no-audit --no-fund --ignore-scripts \
    --force --loglevel=error "$@"
  echo "$stamp" >"$dir/stamp"
}
