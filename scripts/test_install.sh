#!/usr/bin/env bash
# `make install` as a C or C++ user meets it (`make test-install`):
#
# - installs into a temporary prefix and checks the layout: libemr.so.<version>
#   with its soname link libemr.so.<ABI> (the ABI number of emr-ffi/build.rs)
#   and the development link libemr.so,
#   libemr.a, include/emr.h, lib/pkgconfig/emr.pc, bin/emr;
# - one version everywhere: pkg-config --modversion, emr_version() (checked by
#   the C++ program) and `emr --version` all say the workspace's;
# - emr.pc's Libs.private is what rustc lists for a static library here;
# - builds the README's C quick start, taken from README.md as written, with
#   `pkg-config --cflags --libs emr` (linked to libemr.so.<ABI>) and with
#   `--static` (libemr.a inside, no libemr.so needed), and runs both;
# - compiles emr-ffi/tests/install/header_cpp.cpp with g++ -std=c++17 -Wall
#   -Wextra -Werror against the installed header and library, and runs it.
#
# Usage: test_install.sh VERSION   (run by make, after `make lib`)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="$1"
CC="${CC:-gcc}"
CXX="${CXX:-g++}"
MAKE="${MAKE:-make}"

for tool in pkg-config readelf "$CXX"; do
    command -v "$tool" >/dev/null || { echo "test_install: $tool is missing (make tools installs pkg-config)" >&2; exit 1; }
done

work="$(mktemp -d "${TMPDIR:-/tmp}/emr-install.XXXXXX")"
trap 'rm -rf "$work"' EXIT
prefix="$work/prefix"
fail() { echo "test_install: $*" >&2; exit 1; }

"$MAKE" --no-print-directory -s -C "$ROOT" install PREFIX="$prefix" >"$work/install.log" 2>&1 ||
    { cat "$work/install.log"; fail "make install failed"; }

lib="$prefix/lib"
abi="$(sed -n 's/^const ABI: u32 = \([0-9]*\);$/\1/p' "$ROOT/emr-ffi/build.rs")"
[[ -n $abi ]] || fail "no ABI number in emr-ffi/build.rs"
for file in bin/emr include/emr.h lib/libemr.a lib/pkgconfig/emr.pc "lib/libemr.so.$version"; do
    [[ -f $prefix/$file ]] || fail "$file is not installed"
done
[[ $(readlink "$lib/libemr.so.$abi") == "libemr.so.$version" ]] || fail "libemr.so.$abi does not point to libemr.so.$version"
[[ $(readlink "$lib/libemr.so") == "libemr.so.$abi" ]] || fail "libemr.so does not point to libemr.so.$abi"
soname="$(readelf -d "$lib/libemr.so.$version" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')"
[[ $soname == "libemr.so.$abi" ]] || fail "the installed library's soname is '$soname', not libemr.so.$abi"
echo "ok   installed: libemr.so.$version (soname $soname), libemr.a, emr.h, emr.pc, emr"

cli_version="$("$prefix/bin/emr" --version)"
[[ $cli_version == "emr $version" ]] || fail "emr --version says '$cli_version', not 'emr $version'"

export PKG_CONFIG_PATH="$lib/pkgconfig"
pc_version="$(pkg-config --modversion emr)"
[[ $pc_version == "$version" ]] || fail "pkg-config --modversion emr is '$pc_version', not $version"
echo "ok   version $version: emr --version, pkg-config --modversion"

# Libs.private against rustc's own list for a static library on this target.
printf 'pub fn f() {}\n' >"$work/probe.rs"
native="$(rustc --crate-type staticlib --print native-static-libs "$work/probe.rs" -o "$work/libprobe.a" 2>&1 |
    sed -n 's/.*native-static-libs: //p')"
private="$(sed -n 's/^Libs.private: //p' "$lib/pkgconfig/emr.pc")"
[[ -n $native && $native == "$private" ]] ||
    fail "emr.pc Libs.private is '$private'; rustc --print native-static-libs says '$native'"
echo "ok   Libs.private: $private"

# The README's C quick start, exactly as the README writes it.
# (The block writes it into its own temporary directory, `$T`.)
sed -n "/^cat > \$T\/emr_quickstart.c <<'C'\$/,/^C\$/p" "$ROOT/README.md" | sed '1d;$d' >"$work/quickstart.c"
grep -q 'int main' "$work/quickstart.c" || fail "README.md has no C quick start (cat > \$T/emr_quickstart.c <<'C')"

# shellcheck disable=SC2046  # pkg-config's output is meant to be split into words
"$CC" -std=c11 -Wall -Wextra -Werror "$work/quickstart.c" $(pkg-config --cflags --libs emr) \
    -Wl,-rpath,"$(pkg-config --variable=libdir emr)" -o "$work/quickstart-shared"
readelf -d "$work/quickstart-shared" | grep -q "NEEDED.*\\[libemr\\.so\\.$abi\\]" || fail "the shared build does not need libemr.so.$abi"
"$work/quickstart-shared" >"$work/shared.out" || { cat "$work/shared.out"; fail "the shared quick start failed"; }
grep -q 'block verified' "$work/shared.out" || fail "the shared quick start did not verify its block"
echo "ok   README C quick start: pkg-config --cflags --libs emr, linked to libemr.so.$abi, ran"

# shellcheck disable=SC2046
"$CC" -std=c11 -Wall -Wextra -Werror "$work/quickstart.c" $(pkg-config --cflags emr) \
    "$(pkg-config --variable=libdir emr)/libemr.a" $(pkg-config --static --libs emr) -o "$work/quickstart-static"
if readelf -d "$work/quickstart-static" | grep -q 'NEEDED.*libemr'; then
    fail "the static build still needs libemr.so"
fi
# Run without the library directory anywhere the loader looks.
env -u LD_LIBRARY_PATH "$work/quickstart-static" >"$work/static.out" ||
    { cat "$work/static.out"; fail "the static quick start failed"; }
grep -q 'block verified' "$work/static.out" || fail "the static quick start did not verify its block"
echo "ok   README C quick start: libemr.a + pkg-config --static --libs emr, no libemr.so needed, ran"

# shellcheck disable=SC2046
"$CXX" -std=c++17 -Wall -Wextra -Werror "$ROOT/emr-ffi/tests/install/header_cpp.cpp" $(pkg-config --cflags --libs emr) \
    -Wl,-rpath,"$(pkg-config --variable=libdir emr)" -o "$work/header_cpp"
"$work/header_cpp" "$version" >"$work/cpp.out" || { cat "$work/cpp.out"; fail "the C++ program failed"; }
echo "ok   emr.h in C++17 (g++ -Wall -Wextra -Werror): $(grep -c '^ok' "$work/cpp.out") checks, emr_version() $version"
