#!/bin/sh
# Assemble "Energy Profiler.app" from already built darwin binaries.
#
#   build/darwin/make-app.sh DESKTOP HELPER CLI [APP]
#
# DESKTOP  the Wails desktop binary (go build -tags desktop,production .)
# HELPER   the powermetrics helper (go build ./backend/helper/cmd/energyprofiler-helper)
# CLI      the headless CLI (go build ./backend/cmd/energyprofiler)
# APP      output bundle, default "build/bin/Energy Profiler.app"
#
# Layout (docs/macos.md):
#   Contents/Info.plist                                     build/darwin/Info.plist
#   Contents/MacOS/energyprofiler-desktop                   the app (CFBundleExecutable)
#   Contents/MacOS/energyprofiler-helper                    the root daemon (BundleProgram)
#   Contents/MacOS/energyprofiler                           the CLI (`helper install` must run from here)
#   Contents/Library/LaunchDaemons/com.energyprofiler.helper.plist
#   Contents/Resources/iconfile.icns                        when build/appicon.png exists (macOS only)
#
# With SIGN_IDENTITY set (e.g. "Developer ID Application: Name (TEAMID)") it
# signs inside out with the hardened runtime and a secure timestamp.
# Runs on Linux too (no icon, no signing), so its layout is tested there.
set -eu

if [ $# -lt 3 ] || [ $# -gt 4 ]; then
	echo "usage: $0 DESKTOP HELPER CLI [APP]" >&2
	exit 2
fi
desktop=$1 helper=$2 cli=$3
app=${4:-"build/bin/Energy Profiler.app"}
here=$(cd "$(dirname "$0")" && pwd)

for f in "$desktop" "$helper" "$cli"; do
	[ -f "$f" ] || { echo "make-app: $f: no such file; build it first" >&2; exit 1; }
done

rm -rf "$app"
mkdir -p "$app/Contents/MacOS" "$app/Contents/Resources" "$app/Contents/Library/LaunchDaemons"
cp "$here/Info.plist" "$app/Contents/Info.plist"
cp "$here/com.energyprofiler.helper.plist" "$app/Contents/Library/LaunchDaemons/com.energyprofiler.helper.plist"
cp "$desktop" "$app/Contents/MacOS/energyprofiler-desktop"
cp "$helper" "$app/Contents/MacOS/energyprofiler-helper"
cp "$cli" "$app/Contents/MacOS/energyprofiler"
chmod 0755 "$app/Contents/MacOS/"*
printf 'APPL????' > "$app/Contents/PkgInfo"

icon="$here/../appicon.png"
if [ -f "$icon" ] && command -v iconutil >/dev/null 2>&1 && command -v sips >/dev/null 2>&1; then
	set_dir=$(mktemp -d)/iconfile.iconset
	mkdir -p "$set_dir"
	for s in 16 32 128 256 512; do
		sips -z $s $s "$icon" --out "$set_dir/icon_${s}x${s}.png" >/dev/null
		d=$((s * 2))
		sips -z $d $d "$icon" --out "$set_dir/icon_${s}x${s}@2x.png" >/dev/null
	done
	iconutil -c icns "$set_dir" -o "$app/Contents/Resources/iconfile.icns"
fi

if command -v plutil >/dev/null 2>&1; then
	plutil -lint "$app/Contents/Info.plist" "$app/Contents/Library/LaunchDaemons/com.energyprofiler.helper.plist" >/dev/null
fi

if [ -n "${SIGN_IDENTITY:-}" ]; then
	# Inside out: nested code first, the bundle last. No --deep.
	for bin in energyprofiler-helper energyprofiler; do
		codesign --force --timestamp --options runtime --sign "$SIGN_IDENTITY" "$app/Contents/MacOS/$bin"
	done
	codesign --force --timestamp --options runtime \
		--entitlements "$here/entitlements.plist" --sign "$SIGN_IDENTITY" "$app"
	codesign --verify --strict --verbose=2 "$app"
fi

echo "$app"
