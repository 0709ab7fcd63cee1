#!/usr/bin/env bash
# Runs coring's test suite under other Linux kernels, in QEMU.
#
#   ci/kernels.sh                  Debian bookworm's 6.1 and 6.12 kernels
#   ci/kernels.sh 6.1              one of them
#   ci/kernels.sh linux-image-5.15.0-xx-generic_..._amd64.deb
#   ci/kernels.sh linux-image-X.deb,linux-modules-X.deb
#                                  (Ubuntu: image and modules apart)
#   ci/kernels.sh /path/to/unpacked/kernel
#                                  any Debian-style kernel package, or a
#                                  directory holding boot/vmlinuz-VER and
#                                  lib/modules/VER (or usr/lib/modules/VER)
#
# What it does, once per kernel: fetches the kernel package with
# `apt-get download` (never installs it; unpacked with dpkg-deb -x),
# builds a small initramfs (static busybox and the virtio-pci, virtio-blk,
# virtio-rng, 9p and ext4 modules, found with `modprobe --show-depends`
# against the package's own modules), and boots it with software emulation
# (-accel tcg, no KVM). The guest mounts the host's root read-only over
# virtio-9p, makes a tmpfs root with the host's top-level directories
# bind-mounted into it, mounts a fresh ext4 scratch disk as TMPDIR (and
# /var/tmp) so O_DIRECT works, brings `lo` up, takes the host's fd limits,
# and runs each test executable (built once, here, by `cargo test
# --workspace --release --no-run`) in its package directory with a
# timeout. A hung executable gets its threads' kernel stacks and its
# io_uring fdinfo printed before it is killed.
#
# Prints a line per test executable (passed / failed / ignored / seconds)
# and exits non-zero when any test failed or hung, or a guest did not
# finish.
#
# Environment:
#   CORING_KERNELS_CACHE    downloads and unpacked kernels (default
#                           /var/cache/coring-kernels when writable, else
#                           target/kernels)
#   CORING_KERNELS_TIMEOUT  seconds per test executable (default 300)
#   CORING_KERNELS_SMP / CORING_KERNELS_MEM   guest CPUs / memory (2 / 4G)
#   CORING_KERNELS_FILTER   a regex: only test executables whose name
#                           matches (default: all)
#   CORING_KERNELS_ARGS     extra arguments for every test executable
#                           (e.g. "--skip net_load")
#   CORING_KERNELS_RETRY=1  run a test executable that failed (not one
#                           that hung) once more; its line then says
#                           "passed on a retry" and the first run's output
#                           is printed (for CI on a shared, busy host)
#   CORING_KERNELS_TESTS    a file of "<package dir> <test executable>"
#                           lines to run instead of building them
#   CARGO_TARGET_DIR        as for cargo
#   CORING_*                every other CORING_ variable set here (not
#                           CORING_KERNELS_*) reaches the tests in the
#                           guest, quoted as it is: CORING_BACKEND=epoll,
#                           CORING_RING=plain, CORING_SOAK_ROUND=...
#                           (CORING_TEST_EMULATED is always 1 there)
#
# Needs root only to install missing tools with apt-get (qemu-system-x86,
# busybox-static, cpio, kmod, qemu-utils, e2fsprogs, xz-utils).
#
# Measured on the project's 2-vCPU VM (2026-12-06): boot ~6 s, the whole
# suite ~80-100 s per kernel under TCG; see docs/KERNELS.md.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

timeout_per_test=${CORING_KERNELS_TIMEOUT:-300}
smp=${CORING_KERNELS_SMP:-2}
mem=${CORING_KERNELS_MEM:-4G}
filter=${CORING_KERNELS_FILTER:-}
extra_args=${CORING_KERNELS_ARGS:-}
retry=${CORING_KERNELS_RETRY:-0}

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'ci/kernels.sh: %s\n' "$*" >&2; exit 2; }

# ---------------------------------------------------------------- tools
apt_updated=0
apt_update_once() {
  if [ "$apt_updated" = 0 ]; then
    log "apt-get update"
    apt-get update -qq >&2 || die "apt-get update failed"
    apt_updated=1
  fi
}

need_tools() {
  local missing=() pair cmd pkg
  for pair in qemu-system-x86_64:qemu-system-x86 qemu-img:qemu-utils \
    cpio:cpio modprobe:kmod depmod:kmod mkfs.ext4:e2fsprogs xz:xz-utils \
    dpkg-deb:dpkg; do
    cmd=${pair%%:*} pkg=${pair#*:}
    command -v "$cmd" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin command -v "$cmd" >/dev/null 2>&1 ||
      missing+=("$pkg")
  done
  # The guest needs a statically linked busybox: the host's libraries are
  # not there until the 9p root is mounted.
  if ! busybox_static >/dev/null; then
    missing+=(busybox-static)
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || die "missing ${missing[*]}; install them (apt-get install ${missing[*]})"
    apt_update_once
    log "apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >&2 || die "apt-get install ${missing[*]} failed"
  fi
  busybox_static >/dev/null || die "no statically linked busybox (apt-get install busybox-static)"
}

busybox_static() {
  local b
  for b in /bin/busybox /usr/bin/busybox; do
    if [ -x "$b" ] && ! LC_ALL=C file_is_dynamic "$b"; then
      echo "$b"
      return 0
    fi
  done
  return 1
}

# A dynamically linked ELF names its interpreter (ld-linux) in its first
# few KiB.
file_is_dynamic() {
  local head
  head=$(head -c 4096 "$1" | tr -d '\0')
  [[ $head == *ld-linux* ]]
}

export PATH=$PATH:/usr/sbin:/sbin
need_tools

# ---------------------------------------------------------------- cache
cache=${CORING_KERNELS_CACHE:-}
if [ -z "$cache" ]; then
  if mkdir -p /var/cache/coring-kernels 2>/dev/null && [ -w /var/cache/coring-kernels ]; then
    cache=/var/cache/coring-kernels
  else
    cache=$repo/target/kernels
  fi
fi
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

# The package `apt-cache depends META` names first (the newest kernel the
# meta package points at).
resolve_meta() {
  local meta=$1 pkg
  pkg=$(apt-cache depends "$meta" 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  if [ -z "$pkg" ]; then
    apt_update_once
    pkg=$(apt-cache depends "$meta" 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
  fi
  [ -n "$pkg" ] || die "apt knows no $meta (is bookworm or bookworm-security in the sources?)"
  echo "$pkg"
}

# Downloads package $1 into the cache (once) and prints the .deb's path.
download_pkg() {
  local pkg=$1 deb
  deb=$(ls "$cache"/debs/"${pkg}"_*.deb 2>/dev/null | head -n1 || true)
  if [ -z "$deb" ]; then
    mkdir -p "$cache/debs"
    log "apt-get download $pkg"
    (cd "$cache/debs" && apt-get download "$pkg" >&2 2>/dev/null) ||
      { apt_update_once; (cd "$cache/debs" && apt-get download "$pkg" >&2); } ||
      die "apt-get download $pkg failed"
    deb=$(ls "$cache"/debs/"${pkg}"_*.deb | head -n1)
  fi
  echo "$deb"
}

# Unpacks a .deb into the cache (once) and prints the directory.
unpack_deb() {
  local deb=$1 dir
  dir=$cache/unpacked/$(basename "$deb" .deb)
  if [ ! -e "$dir/.unpacked" ]; then
    rm -rf "$dir"
    mkdir -p "$dir"
    log "dpkg-deb -x $(basename "$deb")"
    dpkg-deb -x "$deb" "$dir"
    touch "$dir/.unpacked"
  fi
  echo "$dir"
}

# A kernel argument -> an unpacked root with boot/vmlinuz-*.
kernel_root() {
  local arg=$1
  case $arg in
    6.1) unpack_deb "$(download_pkg "$(resolve_meta linux-image-amd64)")" ;;
    6.12) unpack_deb "$(download_pkg "$(resolve_meta linux-image-6.12-amd64)")" ;;
    *.deb,*.deb)
      # Image and modules in separate packages (Ubuntu's linux-image-* and
      # linux-modules-*): unpacked into one root.
      local dir deb
      dir=$cache/unpacked/$(echo "$arg" | md5sum | cut -c1-12)
      if [ ! -e "$dir/.unpacked" ]; then
        rm -rf "$dir"
        mkdir -p "$dir"
        for deb in ${arg//,/ }; do
          [ -f "$deb" ] || die "no such file: $deb"
          log "dpkg-deb -x $(basename "$deb")"
          dpkg-deb -x "$deb" "$dir"
        done
        touch "$dir/.unpacked"
      fi
      echo "$dir"
      ;;
    *.deb)
      [ -f "$arg" ] || die "no such file: $arg"
      unpack_deb "$(cd "$(dirname "$arg")" && pwd)/$(basename "$arg")"
      ;;
    *)
      if [ -d "$arg" ]; then
        (cd "$arg" && pwd)
      elif apt-cache show "$arg" >/dev/null 2>&1; then
        unpack_deb "$(download_pkg "$arg")"
      else
        die "$arg: not 6.1, 6.12, a .deb, a directory, nor a package apt knows"
      fi
      ;;
  esac
}

# ---------------------------------------------------------------- tests
build_json=$(mktemp)
tests_list=$(mktemp)
trap 'rm -f "$build_json" "$tests_list"' EXIT
if [ -n "${CORING_KERNELS_TESTS:-}" ]; then
  # Executables built before: "<package dir> <executable>" per line.
  cp "$CORING_KERNELS_TESTS" "$tests_list"
else
  log "building the test executables (cargo test --workspace --release --no-run)"
  cargo test --workspace --release --no-run --message-format=json >"$build_json"
  # "<package dir> <executable>" per line, from cargo's compiler-artifact
  # messages for test targets.
  grep '"reason":"compiler-artifact"' "$build_json" | grep '"test":true' |
    sed -n 's/.*"manifest_path":"\([^"]*\)\/Cargo.toml".*"executable":"\([^"]*\)".*/\1 \2/p' |
    sort -u -k2 >"$tests_list"
  # The proc-macro crate's tests check expansions at compile time (its unit
  # tests link the toolchain's libstd dynamically, its trybuild cases run
  # cargo): nothing of the kernel's, and not runnable in the guest.
  grep -v '/macros ' "$tests_list" >"$tests_list.m" || true
  mv "$tests_list.m" "$tests_list"
fi
if [ -n "$filter" ]; then
  grep -E "$filter" "$tests_list" >"$tests_list.f" || true
  mv "$tests_list.f" "$tests_list"
fi
[ -s "$tests_list" ] || die "cargo named no test executable"
log "$(wc -l <"$tests_list") test executables"

# ---------------------------------------------------------------- guest
# The guest's /init (busybox sh, in the initramfs).
write_init() {
  cat >"$1" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
echo "@@ guest up: $(uname -r), $(nproc) CPUs, $(sed -n 's/MemTotal: *//p' /proc/meminfo), kernel booted in $(cut -d' ' -f1 /proc/uptime) s"
while read -r m; do
  insmod "/mods/$m" 2>/dev/null || echo "@@ insmod $m failed"
done </mods/order
n=0
while [ ! -e /sys/bus/virtio/drivers/9pnet_virtio ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
mkdir -p /host /new
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=524288,cache=loose hostroot /host ||
  { echo "@@ no 9p root"; poweroff -f; }
mount -t tmpfs -o mode=755 root /new
for p in /host/*; do
  name=${p#/host/}
  case $name in proc | sys | dev | run | tmp | lost+found) continue ;; esac
  if [ -L "$p" ]; then
    ln -s "$(readlink "$p")" "/new/$name"
  elif [ -d "$p" ]; then
    mkdir "/new/$name"
    mount --bind "$p" "/new/$name"
  fi
done
mkdir -p /new/proc /new/sys /new/dev /new/run /new/tmp /new/scratch
mount -t proc proc /new/proc
mount -t sysfs sys /new/sys
mount -t devtmpfs dev /new/dev
mkdir -p /new/dev/pts /new/dev/shm
mount -t devpts devpts /new/dev/pts
mount -t tmpfs shm /new/dev/shm
mount -t tmpfs run /new/run
mount -t tmpfs -o mode=1777 tmp /new/tmp
# The checkout and the test executables may live where the guest has
# fresh mounts (a clone under /tmp): bind those from the host too.
while read -r d; do
  [ -d "/new$d" ] && continue
  mkdir -p "/new$d" && mount --bind "/host$d" "/new$d" || echo "@@ cannot see $d"
done </dirs
n=0
while [ ! -b /dev/vda ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
mount -t ext4 /dev/vda /new/scratch || echo "@@ no scratch disk: TMPDIR is tmpfs (no O_DIRECT)"
mkdir -p /new/scratch/tmp /new/scratch/vartmp
chmod 1777 /new/scratch/tmp /new/scratch/vartmp
[ -d /new/var/tmp ] && mount --bind /new/scratch/vartmp /new/var/tmp
ip link set lo up
cp /guest.sh /new/run/guest.sh
echo "@@ root ready after $(cut -d' ' -f1 /proc/uptime) s"
cp /tests /new/run/tests
cp /env /new/run/env
chroot /new /bin/sh /run/guest.sh
echo "@@ guest done"
poweroff -f
EOF
  chmod +x "$1"
}

# The runner (host's /bin/sh, inside the chroot).
write_guest() {
  cat >"$1" <<'EOF'
. /run/env
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/tmp TMPDIR=/scratch/tmp RUST_BACKTRACE=1 CORING_TEST_EMULATED=1
ulimit -Hn "$FD_HARD" 2>/dev/null || true
ulimit -Sn "$FD_SOFT" 2>/dev/null || true
echo "@@ io_uring_disabled=$(cat /proc/sys/kernel/io_uring_disabled 2>/dev/null || echo absent) nofile=$(ulimit -Sn)/$(ulimit -Hn)"
dump() {
  pid=$1
  echo "@@ --- hung: pid $pid ($(cat /proc/$pid/comm 2>/dev/null))"
  for t in /proc/$pid/task/*; do
    echo "@@ thread $(basename "$t") $(cat "$t/comm" 2>/dev/null) wchan=$(cat "$t/wchan" 2>/dev/null)"
    sed 's/^/@@   /' "$t/stack" 2>/dev/null
  done
  # Where each thread is in user space, when the host has gdb.
  if command -v gdb >/dev/null 2>&1; then
    echo "@@ user stacks (gdb):"
    timeout 120 gdb -p "$pid" -batch -nx -ex 'set pagination off' -ex 'thread apply all bt' 2>&1 |
      grep -E '^(Thread|#)' | cut -c1-300 | sed 's/^/@@   /' | head -n 400
  fi
  for fd in /proc/$pid/fd/*; do
    case $(readlink "$fd" 2>/dev/null) in
      *io_uring*)
        echo "@@ io_uring fd $(basename "$fd"):"
        sed 's/^/@@   /' "/proc/$pid/fdinfo/$(basename "$fd")" 2>/dev/null | head -n 60
        ;;
    esac
  done
  for c in $(cat /proc/$pid/task/*/children 2>/dev/null); do dump "$c"; done
}
while read -r dir exe; do
  name=$(basename "$exe")
  out=/scratch/out.$name
  attempt=1
  while :; do
  start=$(date +%s%N)
  # --show-output: the notes of passing tests too (a bound widened under
  # emulation says so on stdout).
  (cd "$dir" && exec "$exe" --show-output $EXTRA_ARGS) >"$out" 2>&1 &
  pid=$!
  deadline=$(($(date +%s) + TIMEOUT))
  hung=0
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      hung=1
      break
    fi
    sleep 0.2
  done
  if [ "$hung" = 1 ]; then
    dump "$pid"
    kill -9 "$pid" 2>/dev/null
    pkill -9 -P "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    rc=hung
  else
    wait "$pid"
    rc=$?
  fi
  ms=$((($(date +%s%N) - start) / 1000000))
  passed=0 failed=0 ignored=0
  while read -r line; do
    [ -n "$line" ] || continue
    set -- $line
    passed=$((passed + $4)) failed=$((failed + $6)) ignored=$((ignored + $8))
  done <<EOT
$(grep '^test result:' "$out" | sed 's/[;.]//g')
EOT
  if [ "$rc" != 0 ]; then
    echo "@@ --- output of $name (exit $rc, run $attempt)"
    sed 's/^/@@ | /' "$out" | tail -n 200
    grep -E '^test .* \.\.\. (FAILED|ignored)' "$out" | sed 's/^/@@ | /'
  fi
  # A failure (never a hang) is run again once when RETRY=1; the result
  # line says so.
  if [ "$rc" != 0 ] && [ "$rc" != hung ] && [ "$RETRY" = 1 ] && [ "$attempt" = 1 ]; then
    attempt=2
    continue
  fi
  break
  done
  grep -E '^(SKIP|skip|emulated|measured|soak:)' "$out" | sort | uniq -c | sed "s/^ */@@ note ${name%-*}: /"
  echo "@@ result $name passed=$passed failed=$failed ignored=$ignored ms=$ms rc=$rc runs=$attempt"
done </run/tests
echo "@@ suite done"
EOF
}

# $1 in single quotes, for the guest's /bin/sh (any bytes but NUL).
sh_quote() {
  printf "'%s'" "${1//\'/\'\\\'\'}"
}

# `export NAME='value'` for each CORING_* variable in our environment
# but the script's own CORING_KERNELS_*: the tests in the guest see them.
guest_env() {
  local name
  for name in $(compgen -e); do
    case $name in
      CORING_KERNELS_*) ;;
      CORING_*) echo "export $name=$(sh_quote "${!name}")" ;;
    esac
  done
}

# Resolves the modules the guest needs into $2/mods (decompressed), in
# load order, from the unpacked kernel root $1.
collect_modules() {
  local root=$1 dst=$2 ver=$3 base=$1 m line path name seen=" "
  [ -d "$root/lib/modules/$ver" ] || base=$root/usr
  [ -d "$base/lib/modules/$ver" ] || die "no lib/modules/$ver under $root"
  if [ ! -s "$base/lib/modules/$ver/modules.dep" ]; then
    depmod -b "$base" "$ver" || die "depmod failed for $ver"
  fi
  mkdir -p "$dst/mods"
  : >"$dst/mods/order"
  for m in virtio_pci virtio_blk virtio_rng crc32c_generic crc32c_intel ext4 9pnet_virtio 9p; do
    if ! out=$(modprobe -d "$base" -S "$ver" --show-depends "$m" 2>/dev/null); then
      continue # neither a module nor built in here
    fi
    while read -r line; do
      case $line in
        insmod\ *)
          path=$(echo "$line" | awk '{print $2}')
          name=$(basename "$path")
          name=${name%.xz}
          name=${name%.zst}
          name=${name%.gz}
          case $seen in *" $name "*) continue ;; esac
          seen="$seen$name "
          case $path in
            *.xz) xz -dc "$path" >"$dst/mods/$name" ;;
            *.zst) zstd -qdc "$path" >"$dst/mods/$name" ;;
            *.gz) gzip -dc "$path" >"$dst/mods/$name" ;;
            *) cp "$path" "$dst/mods/$name" ;;
          esac
          echo "$name" >>"$dst/mods/order"
          ;;
      esac
    done <<<"$out"
  done
}

# Boots kernel root $1 and runs the tests; prints the summary; returns
# non-zero on any failure.
run_kernel() {
  local root=$1 vmlinuz ver work initrd t0 t1 rc=0
  vmlinuz=$(ls "$root"/boot/vmlinuz-* 2>/dev/null | head -n1)
  [ -n "$vmlinuz" ] || die "no boot/vmlinuz-* under $root"
  ver=${vmlinuz##*/vmlinuz-}
  # A directory of this run's own: runs at the same time (other
  # checkouts on one host) share the cache but not their guests' files.
  # Those of runs a day old go.
  mkdir -p "$cache/run"
  find "$cache/run" -mindepth 1 -maxdepth 1 -name "$ver.*" -mmin +1440 -exec rm -rf {} + 2>/dev/null || true
  work=$(mktemp -d "$cache/run/$ver.XXXXXX")
  mkdir -p "$work/initramfs"/{bin,proc,sys,dev,mods}
  cp "$(busybox_static)" "$work/initramfs/bin/busybox"
  collect_modules "$root" "$work/initramfs" "$ver"
  write_init "$work/initramfs/init"
  write_guest "$work/initramfs/guest.sh"
  cp "$tests_list" "$work/initramfs/tests"
  { echo "$repo"; awk '{print $1; sub(/\/[^\/]*$/, "", $2); print $2}' "$tests_list"; } |
    sort -u >"$work/initramfs/dirs"
  {
    echo "TIMEOUT=$timeout_per_test"
    echo "FD_SOFT=$(ulimit -Sn)"
    echo "FD_HARD=$(ulimit -Hn)"
    echo "EXTRA_ARGS=$(sh_quote "$extra_args")"
    echo "RETRY=$retry"
    guest_env
  } >"$work/initramfs/env"
  if grep -q '^export ' "$work/initramfs/env"; then
    log "for the tests in the guest: $(sed -n 's/^export //p' "$work/initramfs/env" | tr '\n' ' ')"
  fi
  initrd=$work/initramfs.cpio.gz
  (cd "$work/initramfs" && find . | cpio -o -H newc --quiet | gzip -1) >"$initrd"
  qemu-img create -q -f raw "$work/scratch.img" 8G
  mkfs.ext4 -q -F -E lazy_itable_init=1,lazy_journal_init=1 "$work/scratch.img"

  log "booting $ver ($(wc -l <"$work/initramfs/mods/order") modules), tests with a ${timeout_per_test}s timeout each"
  t0=$(date +%s)
  # A guest that never finishes is stopped after every executable's
  # timeout plus some.
  local vm_timeout=$(($(wc -l <"$tests_list") * timeout_per_test + 300))
  timeout --foreground -k 10 "$vm_timeout" qemu-system-x86_64 \
    -accel tcg -cpu max -smp "$smp" -m "$mem" \
    -kernel "$vmlinuz" -initrd "$initrd" \
    -append "console=ttyS0 panic=-1 quiet loglevel=3 mitigations=off rdinit=/init" \
    -virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap" \
    -drive "file=$work/scratch.img,if=virtio,format=raw,cache=unsafe" \
    -device virtio-rng-pci \
    -nic none -display none -serial stdio -monitor none -no-reboot \
    </dev/null >"$work/console.log" 2>&1 || true
  t1=$(date +%s)
  rm -rf "$work/scratch.img" "$work/initramfs" "$initrd"
  tr -d '\r' <"$work/console.log" >"$work/console.txt"

  local up=no done=no
  grep -q '^@@ guest up' "$work/console.txt" && up=yes
  grep -q '^@@ suite done' "$work/console.txt" && done=yes
  echo
  echo "## kernel $ver: $(grep -m1 '^@@ guest up' "$work/console.txt" | sed 's/^@@ guest up: //')"
  grep -m1 -E '^@@ root ready' "$work/console.txt" | sed 's/^@@ /   /' || true
  grep -m1 '^@@ io_uring_disabled' "$work/console.txt" | sed 's/^@@ /   /' || true
  # Failures' output and hung executables' dumps.
  grep -E '^@@ (---|\||thread|  |io_uring fd|note|insmod|no )' "$work/console.txt" | sed 's/^@@ //' || true
  local tp=0 tf=0 ti=0 bad=0 name passed failed ignored ms r
  printf '%-28s %7s %7s %8s %8s  %s\n' executable passed failed ignored seconds status
  while read -r _ _ name passed failed ignored ms r runs; do
    passed=${passed#passed=} failed=${failed#failed=} ignored=${ignored#ignored=}
    ms=${ms#ms=} r=${r#rc=} runs=${runs#runs=}
    local status=ok
    if [ "${runs:-1}" != 1 ] && [ "$r" = 0 ]; then
      status="ok, PASSED ON A RETRY (the first run failed; its output is above)"
      total_flaky=$((total_flaky + 1))
    fi
    if [ "$r" = hung ]; then
      status="HUNG (killed after ${timeout_per_test}s)"
      bad=$((bad + 1))
    elif [ "$r" != 0 ] || [ "$failed" != 0 ]; then
      status="FAILED (exit $r)"
      bad=$((bad + 1))
    fi
    tp=$((tp + passed)) tf=$((tf + failed)) ti=$((ti + ignored))
    printf '%-28s %7s %7s %8s %8s  %s\n' "${name%-*}" "$passed" "$failed" "$ignored" \
      "$((ms / 1000)).$(printf '%03d' $((ms % 1000)) | cut -c1)" "$status"
  done < <(grep '^@@ result ' "$work/console.txt")
  local ran
  ran=$(grep -c '^@@ result ' "$work/console.txt" || true)
  if [ "$up" != yes ] || [ "$done" != yes ]; then
    echo "guest did not finish (up=$up, suite done=$done, $ran of $(wc -l <"$tests_list") executables ran); last console lines:"
    tail -n 40 "$work/console.txt" | sed 's/^/  | /'
    bad=$((bad + 1))
  fi
  echo "kernel $ver: $tp passed, $tf failed, $ti ignored; $((t1 - t0)) s wall; console log $work/console.txt"
  total_passed=$((total_passed + tp)) total_failed=$((total_failed + tf)) total_ignored=$((total_ignored + ti))
  [ "$bad" = 0 ] || rc=1
  return "$rc"
}

kernels=("$@")
[ ${#kernels[@]} -gt 0 ] || kernels=(6.1 6.12)
roots=()
for k in "${kernels[@]}"; do
  roots+=("$(kernel_root "$k")")
done
total_passed=0 total_failed=0 total_ignored=0 total_flaky=0
status=0
for r in "${roots[@]}"; do
  run_kernel "$r" || status=1
done
echo
if [ "$total_flaky" != 0 ]; then
  echo "kernels: $total_flaky test executable(s) passed only on a retry (CORING_KERNELS_RETRY=1)"
fi
echo "kernels: $total_passed passed, $total_failed failed, $total_ignored ignored"
exit "$status"
