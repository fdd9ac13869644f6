#!/usr/bin/env bash
# A base image for the Dockerfile made here, from Debian's packages only, for machines that
# cannot pull python:3.11-slim (no Docker Hub): a minimal Debian bookworm with Debian's
# python3 (3.11) and python3-venv, bootstrapped with debootstrap and imported into the local
# Docker engine.
#
#   deploy/docker/local-base.sh [TAG]          # default TAG: local/debian-python:bookworm
#   docker build --build-arg BASE_IMAGE=local/debian-python:bookworm -t lenadex:0.1.0 .
#
# Needs root, debootstrap and a running Docker engine. The Debian mirror is the one apt uses
# on this machine (DEBIAN_MIRROR overrides it). Takes about a minute.
set -euo pipefail

tag="${1:-local/debian-python:bookworm}"
suite="${DEBIAN_SUITE:-bookworm}"
if [ -z "${DEBIAN_MIRROR:-}" ]; then
  DEBIAN_MIRROR="$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)"
  DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
fi

root="$(mktemp -d /tmp/lenadex-base.XXXXXX)"
trap 'rm -rf "$root"' EXIT

debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
  "$suite" "$root/rootfs" "$DEBIAN_MIRROR" >"$root/debootstrap.log" 2>&1 \
  || { tail -n 20 "$root/debootstrap.log" >&2; exit 1; }

# Trust what this machine trusts: the certificate authorities it adds to Debian's (a
# TLS-inspecting egress proxy's, say), and pip uses that store instead of its own bundle, so
# that pip inside `docker build --network host` reaches PyPI as the machine's pip does.
# (An image built FROM this base is for this machine's tests, not for a registry.)
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  cp /usr/local/share/ca-certificates/*.crt "$root/rootfs/usr/local/share/ca-certificates/"
  chroot "$root/rootfs" update-ca-certificates >/dev/null 2>&1
fi
printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$root/rootfs/etc/pip.conf"

# What a container never needs: the downloaded packages, apt's lists, documentation, locales.
# (The standard library's bytecode stays: a read-only container could not write it, and
# would compile every module at every start.)
rm -rf "$root/rootfs"/var/cache/apt/archives/*.deb "$root/rootfs"/var/cache/apt/*.bin \
       "$root/rootfs"/var/lib/apt/lists/* "$root/rootfs"/var/log/* \
       "$root/rootfs"/usr/share/doc/* "$root/rootfs"/usr/share/man/* "$root/rootfs"/usr/share/info/* \
       "$root/rootfs"/usr/share/locale/*

tar -C "$root/rootfs" --numeric-owner -c . \
  | docker import \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'ENV LANG=C.UTF-8' \
      --change 'CMD ["python3"]' \
      - "$tag" >/dev/null
echo "$tag"
