#!/usr/bin/env bash
# Install the Turnstile bundle (built by installer/build_bundle.py) with a menu entry and icon.
#
#   ./install_linux.sh [BUNDLE_DIR]               for this user: ~/.local/opt/turnstile,
#                                                 ~/.local/bin/turnstile, ~/.local/share/...
#   sudo ./install_linux.sh --system [BUNDLE_DIR] for everyone: /opt/turnstile,
#                                                 /usr/local/bin/turnstile, /usr/local/share/...
#   ./install_linux.sh --uninstall [--system]     removes the program, menu entry and icon
#
# BUNDLE_DIR defaults to the folder this script is in (it ships inside the bundle), else the
# repository's dist/turnstile. Installing again replaces the program; if the new copy does not
# start, the old one is put back. The database, settings and logs live in the user's data
# folders (~/.local/share/turnstile, ~/.config/turnstile) and are never touched.
set -euo pipefail

APP=turnstile
ICON_SIZE=256x256
mode=user
action=install
bundle=""

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "install_linux.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --system) mode=system ;;
    --user) mode=user ;;
    --uninstall) action=uninstall ;;
    -h|--help) usage; exit 0 ;;
    -*) usage >&2; die "unknown option $1" ;;
    *) [ -z "$bundle" ] || die "one bundle folder only"; bundle="$1" ;;
  esac
  shift
done

if [ "$mode" = system ]; then
  [ "$(id -u)" = 0 ] || die "--system installs for every user and needs root (sudo)"
  opt_dir=/opt/$APP
  bin_dir=/usr/local/bin
  share_dir=/usr/local/share
else
  [ -n "${HOME:-}" ] || die "HOME is not set"
  opt_dir="$HOME/.local/opt/$APP"
  bin_dir="$HOME/.local/bin"
  share_dir="${XDG_DATA_HOME:-$HOME/.local/share}"
fi
desktop_file="$share_dir/applications/$APP.desktop"
icon_file="$share_dir/icons/hicolor/$ICON_SIZE/apps/$APP.png"
bin_link="$bin_dir/$APP"

refresh_menus() {
  # Desktops pick up new entries by themselves; these only speed it up where installed.
  if command -v update-desktop-database >/dev/null 2>&1; then
    update-desktop-database -q "$share_dir/applications" 2>/dev/null || true
  fi
  if command -v gtk-update-icon-cache >/dev/null 2>&1; then
    gtk-update-icon-cache -q -t "$share_dir/icons/hicolor" 2>/dev/null || true
  fi
}

if [ "$action" = uninstall ]; then
  rm -f "$desktop_file" "$icon_file"
  if [ -L "$bin_link" ] && [ "$(readlink "$bin_link")" = "$opt_dir/$APP" ]; then
    rm -f "$bin_link"
  fi
  rm -rf "$opt_dir"
  refresh_menus
  echo "Turnstile removed from $opt_dir. The database and settings were kept" \
       "(~/.local/share/$APP and ~/.config/$APP of each user)."
  exit 0
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ -z "$bundle" ]; then
  if [ -x "$here/$APP" ]; then bundle="$here"; else bundle="$here/../dist/$APP"; fi
fi
[ -d "$bundle" ] || die "no bundle at $bundle: build it with python installer/build_bundle.py"
bundle="$(cd "$bundle" && pwd)"
[ -x "$bundle/$APP" ] || die "$bundle has no program '$APP': is it a Turnstile bundle?"
icon_src="$bundle/_internal/$APP/assets/$APP.png"
[ -f "$icon_src" ] || die "$bundle has no icon ($icon_src): the bundle is incomplete"
desktop_src="$bundle/$APP.desktop"
[ -f "$desktop_src" ] || desktop_src="$here/$APP.desktop"
[ -f "$desktop_src" ] || die "no $APP.desktop beside the bundle or this script"

# Copy the program next to its final place, then swap, so a failed copy (disk full) leaves
# the installed version alone.
if [ "$bundle" != "$opt_dir" ]; then
  mkdir -p "$(dirname "$opt_dir")"
  rm -rf "$opt_dir.new" "$opt_dir.old"
  cp -a "$bundle" "$opt_dir.new" || { rm -rf "$opt_dir.new"; die "copying to $opt_dir failed"; }
  [ ! -e "$opt_dir" ] || mv "$opt_dir" "$opt_dir.old"
  mv "$opt_dir.new" "$opt_dir"
  if ! version="$("$opt_dir/$APP" --version 2>&1)"; then
    rm -rf "$opt_dir"
    [ ! -e "$opt_dir.old" ] || mv "$opt_dir.old" "$opt_dir"
    die "the installed program does not start (previous version kept): $version"
  fi
  rm -rf "$opt_dir.old"
else
  version="$("$opt_dir/$APP" --version 2>&1)" || die "$opt_dir/$APP does not start: $version"
fi

mkdir -p "$bin_dir" "$(dirname "$desktop_file")" "$(dirname "$icon_file")"
ln -sfn "$opt_dir/$APP" "$bin_link"
install -m 0644 "$icon_src" "$icon_file"

# The menu entry runs the installed program by its full path (~/.local/bin is not always on
# the desktop session's PATH); a path with spaces is quoted as the spec asks.
exec_path="$opt_dir/$APP"
case "$exec_path" in *" "*) exec_path="\"$exec_path\"" ;; esac
tmp_desktop="$(mktemp "$desktop_file.XXXXXX")"
while IFS= read -r line || [ -n "$line" ]; do
  case "$line" in
    Exec=*) printf 'Exec=%s\n' "$exec_path" ;;
    TryExec=*) printf 'TryExec=%s\n' "$opt_dir/$APP" ;;
    *) printf '%s\n' "$line" ;;
  esac
done < "$desktop_src" > "$tmp_desktop"
chmod 0644 "$tmp_desktop"
mv "$tmp_desktop" "$desktop_file"
refresh_menus

echo "Installed $version:"
echo "  program     $opt_dir/$APP   (and $bin_link)"
echo "  menu entry  $desktop_file"
echo "  icon        $icon_file"
case ":$PATH:" in *":$bin_dir:"*) ;; *) echo "  note: $bin_dir is not on PATH; add it to run 'turnstile' from a terminal" ;; esac
