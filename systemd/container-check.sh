#!/usr/bin/env bash
# The unit under a real systemd: boots Debian 12's systemd 252 as PID 1 in a systemd-nspawn container, installs the
# release binaries and systemd/conceptd.service into it (make install-files), and checks that the hardened service
# starts (READY), trains and snapshots, reloads on SIGHUP, refuses a configuration without sources, scores its
# exposure with systemd-analyze security, and stops with exit status 0.
#
#   sudo systemd/container-check.sh            (make systemd-check; BIN=.build/release by default)
#
# Needs root, systemd-container and debootstrap; the first run debootstraps a root file system into
# $CONCEPTD_CONTAINER_ROOT (default /var/lib/machines/conceptd-test, about 300 MB, from deb.debian.org). The Swift
# runtime is bound read-only from /opt/swift (the binaries' RUNPATH). Not part of `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${CONCEPTD_CONTAINER_ROOT:-/var/lib/machines/conceptd-test}
BIN=${BIN:-.build/release}
SWIFT_RUNTIME=${SWIFT_RUNTIME:-/opt/swift}
PORT=${PORT:-18787}

fail() { echo "container check: FAILED: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root"
command -v systemd-nspawn >/dev/null || fail "needs systemd-nspawn (apt-get install systemd-container)"
[ -x "$BIN/conceptd" ] || fail "no $BIN/conceptd: swift build -c release first"

if [ ! -x "$ROOT/usr/lib/systemd/systemd" ]; then
    command -v debootstrap >/dev/null || fail "needs debootstrap (apt-get install debootstrap)"
    echo "== debootstrap bookworm into $ROOT"
    debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus bookworm "$ROOT" http://deb.debian.org/debian
fi
if ! chroot "$ROOT" dpkg-query -W libavformat59 libavdevice59 libswscale6 libopenblas0 procps >/dev/null 2>&1; then
    echo "== runtime libraries (libav 5.1, OpenBLAS) into the container"
    chroot "$ROOT" sh -c 'DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        libavformat59 libavdevice59 libswscale6 libopenblas0 libstdc++6 procps' >/dev/null
fi

echo "== make install-files into the container (the shipped unit, unchanged)"
make -s install-files BIN="$BIN" DESTDIR="$ROOT" PREFIX=/usr/local >/dev/null
cat > "$ROOT/etc/conceptd/conceptd.toml" <<EOF
# container check: a small model on a synthetic live source
[model]
preset = "tiny"
ks = 8
kd = 8
top_k = 3
[training]
batch_size = 2
replay_size = 16
warmup_steps = 2
[[source]]
name = "testsrc"
uri = "lavfi:testsrc2=size=96x72:rate=25"
fps = 8
[snapshots]
every_steps = 5
[api]
listen = "127.0.0.1:$PORT"
EOF
rm -rf "$ROOT/var/lib/private/conceptd" "$ROOT/var/lib/conceptd"

echo "== boot systemd in the container"
systemd-nspawn -q -D "$ROOT" -b --register=no --keep-unit --bind-ro="$SWIFT_RUNTIME" --console=read-only \
    > /tmp/conceptd-container-console.log 2>&1 &
NSPAWN=$!
cleanup() { kill "$NSPAWN" 2>/dev/null || true; wait "$NSPAWN" 2>/dev/null || true; }
trap cleanup EXIT
LEADER=""
for _ in $(seq 100); do
    LEADER=$(pgrep -P "$NSPAWN" -x systemd || true)
    [ -n "$LEADER" ] && break
    sleep 0.2
done
[ -n "$LEADER" ] || fail "systemd did not start in the container"
ctr() { nsenter -t "$LEADER" -a "$@"; }
state=""
for _ in $(seq 60); do  # until systemd's bus answers
    state=$(ctr systemctl is-system-running --wait 2>/dev/null || true)
    [ -n "$state" ] && break
    sleep 1
done
echo "   systemd $(ctr systemctl --version | head -1 | cut -d' ' -f2) as PID 1: $state"
case "$state" in running|degraded) ;; *) fail "the container's system state is '$state'";; esac

echo "== systemctl start conceptd (Type=notify: returns once READY=1 arrived)"
ctr systemctl daemon-reload
ctr systemctl start conceptd || { ctr journalctl -u conceptd --no-pager | tail -30; fail "conceptd did not start"; }
[ "$(ctr systemctl is-active conceptd)" = active ] || fail "not active"
step=0
for _ in $(seq 150); do
    text=$(ctr systemctl show -p StatusText --value conceptd)
    step=$(echo "$text" | sed -n 's/^step \([0-9]*\),.*/\1/p')
    [ "${step:-0}" -ge 6 ] && break
    sleep 1
done
echo "   status: $text"
[ "${step:-0}" -ge 6 ] || fail "no training progress"
ls "$ROOT/var/lib/private/conceptd/snapshots" | grep -q '^snapshot-' || fail "no snapshot in /var/lib/private/conceptd/snapshots"
echo "   snapshots: $(ls "$ROOT/var/lib/private/conceptd/snapshots" | tr '\n' ' ')"
uid=$(ctr sh -c 'stat -c %u /proc/$(systemctl show -p MainPID --value conceptd)')
echo "   runs as uid $uid (DynamicUser)"
[ "$uid" != 0 ] || fail "runs as root"

echo "== systemctl reload (SIGHUP): a good file, then one without sources"
ctr systemctl reload conceptd || { ctr journalctl -u conceptd --no-pager | tail -25; fail "systemctl reload failed"; }
sleep 2
ctr journalctl -u conceptd --no-pager | grep -q "reloaded" || fail "no 'reloaded' after SIGHUP"
cp "$ROOT/etc/conceptd/conceptd.toml" /tmp/conceptd-container-good.toml
printf '# truncated\n' > "$ROOT/etc/conceptd/conceptd.toml"
ctr systemctl reload conceptd || { ctr journalctl -u conceptd --no-pager | tail -25; fail "systemctl reload failed"; }
sleep 2
ctr journalctl -u conceptd --no-pager | grep -q "reload failed; keeping the running configuration" || fail "an empty file was not refused"
[ "$(ctr systemctl is-active conceptd)" = active ] || fail "not active after a refused reload"
cp /tmp/conceptd-container-good.toml "$ROOT/etc/conceptd/conceptd.toml"

echo "== systemd-analyze security conceptd (the running unit)"
ctr systemd-analyze security --no-pager conceptd | tail -1
warnings=$(ctr journalctl -u conceptd --no-pager -p warning | grep -v -- "-- " || true)
if echo "$warnings" | grep -Eiq "operation not permitted|bad system call|sigsys|mprotect|permission denied|errno=1($|[^0-9])"; then
    echo "$warnings"; fail "the sandbox refused something the daemon needed"
fi

echo "== systemctl stop conceptd"
ctr systemctl stop conceptd
status=$(ctr systemctl show -p ExecMainStatus --value conceptd)
[ "$status" = 0 ] || fail "exit status $status"
echo "container check: ok (systemd 252 as PID 1, the shipped unit, exit status 0)"
