#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# libvirt, host side (TAP): the example domain packaging/libvirt/ksm-guest.xml (docs/libvirt.md) is valid
# for Debian's libvirt (virt-xml-validate, libvirt-clients), as are its variants the documentation shows
# (a private merge domain; <nosharepages/>, to show what it is); it runs QEMU with the preload library at
# the path ksm-tools installs it to; the validator does refuse a broken <qemu:env> (so the checks can
# fail); and the XML blocks of docs/libvirt.md that are whole domains or fragments of one parse.
# Needs libvirt-clients and libxml2-utils (tests/host/deb-deps libvirt installs them; KSM_NO_DEPS=1 not).
. "$(dirname "$0")/../lib/host-tap.sh"

if [ "${KSM_NO_DEPS:-0}" != 1 ] && [ "$(id -u)" = 0 ]; then
	tests/host/deb-deps libvirt > /dev/null || true
fi
if ! command -v virt-xml-validate > /dev/null || ! command -v xmllint > /dev/null; then
	not_ok "virt-xml-validate and xmllint are installed (apt install libvirt-clients libxml2-utils)"
	exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
xml=packaging/libvirt/ksm-guest.xml
lib=/usr/lib/ksm/libksm-preload.so
validator="virt-xml-validate ($(virt-xml-validate --version 2>/dev/null | sed -n 's/.*(libvirt) //p'))"

# validate NAME FILE: one TAP line, the validator's output when it fails.
validate() {
	if virt-xml-validate "$2" domain > "$tmp/out" 2>&1; then
		ok "$validator accepts $1"
	else
		not_ok "$validator accepts $1"
		show "$tmp/out"
	fi
}
validate "$xml" "$xml"

# The environment entry: LD_PRELOAD is the library at the path the package installs it to.
env_lib=$(xmllint --xpath "string(//*[local-name()='commandline']/*[local-name()='env'][@name='LD_PRELOAD']/@value)" "$xml" 2>/dev/null || true)
ns=$(xmllint --xpath "namespace-uri(//*[local-name()='commandline'])" "$xml" 2>/dev/null || true)
if [ "$env_lib" = "$lib" ] && [ "$ns" = http://libvirt.org/schemas/domain/qemu/1.0 ] &&
	grep -qx "${lib#/}" debian/ksm-tools.install &&
	[ "$(make -s --no-print-directory -f - print-lib PREFIX=/usr <<'EOF'
include Makefile
print-lib:
	@echo $(KSMLIBDIR)/libksm-preload.so
EOF
)" = "$lib" ]; then
	ok "its <qemu:env> sets LD_PRELOAD=$lib, where ksm-tools (and make install PREFIX=/usr) put the library"
else
	not_ok "its <qemu:env> sets LD_PRELOAD to $lib, in the qemu namespace (got '$env_lib', namespace '$ns')"
fi
if [ "$(xmllint --xpath "count(//*[local-name()='nosharepages'])" "$xml" 2>&1)" = 0 ]; then
	ok "the example keeps mem-merge on (no <nosharepages/>): QEMU marks its guest RAM MADV_MERGEABLE"
else
	not_ok "the example keeps mem-merge on (no <nosharepages/>): QEMU would mark no memory MADV_MERGEABLE"
fi

# The variants docs/libvirt.md shows.
sed "s|<!-- <qemu:env name='KSM_PRELOAD_DOMAIN' value='private'/> -->|<qemu:env name='KSM_PRELOAD_DOMAIN' value='private'/>|" \
	"$xml" > "$tmp/private.xml"
grep -q "<qemu:env name='KSM_PRELOAD_DOMAIN'" "$tmp/private.xml" || echo "the private domain line is missing" > "$tmp/private.xml"
validate "the example with KSM_PRELOAD_DOMAIN=private" "$tmp/private.xml"
sed 's|  <vcpu |  <memoryBacking>\n    <nosharepages/>\n  </memoryBacking>\n  <vcpu |' "$xml" > "$tmp/nosharepages.xml"
validate "the example with <memoryBacking><nosharepages/></memoryBacking> (what turns mem-merge off)" "$tmp/nosharepages.xml"

# The validator is not a no-op: a <qemu:env> without a value, and one outside the qemu namespace, are refused.
sed "s|<qemu:env name='LD_PRELOAD' |<qemu:env name='LD PRELOAD' |" "$xml" > "$tmp/bad1.xml"
sed "s|<qemu:env name='LD_PRELOAD' value='$lib'/>|<env name='LD_PRELOAD' value='$lib'/>|" "$xml" > "$tmp/bad2.xml"
if ! cmp -s "$xml" "$tmp/bad1.xml" && ! cmp -s "$xml" "$tmp/bad2.xml" &&
	! virt-xml-validate "$tmp/bad1.xml" domain > /dev/null 2>&1 && ! virt-xml-validate "$tmp/bad2.xml" domain > /dev/null 2>&1; then
	ok "$validator refuses a <qemu:env> whose name is no variable name (LD PRELOAD) and an <env> outside the qemu namespace"
else
	not_ok "$validator refuses a <qemu:env> whose name is no variable name (LD PRELOAD) and an <env> outside the qemu namespace"
fi

# docs/libvirt.md: every ```xml block is well-formed (a fragment is wrapped in a root declaring the qemu
# namespace), and a block that is a whole <domain> is a valid one.
n=0
bad=
awk -v dir="$tmp" '/^```xml/ { n++; f = dir "/doc" n ".xml"; inblock = 1; next }
	/^```/ { inblock = 0; next } inblock { print > f }' docs/libvirt.md
for f in "$tmp"/doc*.xml; do
	[ -e "$f" ] || continue
	n=$((n + 1))
	if grep -q '^<domain' "$f"; then
		virt-xml-validate "$f" domain > "$tmp/out" 2>&1 || bad+=" $(basename "$f"): $(head -n 2 "$tmp/out" | tr '\n' ' ')"
	else
		{ echo "<x xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>"; cat "$f"; echo "</x>"; } > "$f.wrapped"
		xmllint --noout "$f.wrapped" > "$tmp/out" 2>&1 || bad+=" $(basename "$f"): $(head -n 2 "$tmp/out" | tr '\n' ' ')"
	fi
done
if [ "$n" -gt 0 ] && [ -z "$bad" ]; then
	ok "the $n XML blocks of docs/libvirt.md are well-formed (whole domains: valid)"
else
	not_ok "the XML blocks of docs/libvirt.md are well-formed ($n blocks;${bad:- none found})"
fi
exit $failed
