#!/bin/bash
# make demo: what a new user does with podman-rs, offline.
#   1. start Debian's docker-registry on a free 127.0.0.1 port,
#   2. build a busybox image from the host's busybox-static (podman-rs import),
#   3. push it to the registry, forget it locally, pull it back,
#   4. run a container from it that prints a greeting.
# Uses a private storage root under a temp dir; removes everything on exit.
set -euo pipefail
BIN=${PODMAN_RS_BIN:?set PODMAN_RS_BIN to the podman-rs binary}
WORK=$(mktemp -d /tmp/podman-rs-demo.XXXXXX)
REG_PID=
cleanup() {
    [ -n "$REG_PID" ] && kill "$REG_PID" 2>/dev/null && wait "$REG_PID" 2>/dev/null || true
    # The private network namespaces' directory is a shared mount point.
    umount -l "$WORK/run/netns" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
pr() { "$BIN" --root "$WORK/root" --runroot "$WORK/run" "$@"; }

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$WORK/registry.yml" <<YAML
version: 0.1
storage:
  filesystem:
    rootdirectory: $WORK/registry
http:
  addr: 127.0.0.1:$PORT
YAML
docker-registry serve "$WORK/registry.yml" > "$WORK/registry.log" 2>&1 &
REG_PID=$!
for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$PORT/v2/" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fsS "http://127.0.0.1:$PORT/v2/" >/dev/null || { cat "$WORK/registry.log"; exit 1; }
IMAGE="127.0.0.1:$PORT/demo/busybox:latest"

echo "==> building a busybox image from /bin/busybox"
mkdir -p "$WORK/rootfs/bin" "$WORK/rootfs/etc" "$WORK/rootfs/tmp"
cp /bin/busybox "$WORK/rootfs/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$WORK/rootfs/bin/$a"; done
echo "root:x:0:0:root:/root:/bin/sh" > "$WORK/rootfs/etc/passwd"
echo "root:x:0:" > "$WORK/rootfs/etc/group"
tar -C "$WORK/rootfs" -cf "$WORK/rootfs.tar" .
pr import -q --change 'CMD ["sh"]' "$WORK/rootfs.tar" localhost/demo-busybox >/dev/null
echo "==> podman-rs push $IMAGE"
pr push -q --tls-verify=false localhost/demo-busybox "$IMAGE"
pr rmi -f localhost/demo-busybox >/dev/null
echo "==> podman-rs pull $IMAGE"
pr pull --tls-verify=false "$IMAGE"
echo "==> podman-rs run --rm $IMAGE"
pr run --rm --hostname podman-rs-demo "$IMAGE" \
    sh -c 'echo "Hello from podman-rs: pid $$ in container $(hostname), running $(uname -sr)"'
