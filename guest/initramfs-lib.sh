# initramfs-lib.sh: shell functions shared by guest/build-images.sh and
# scripts/testhost-build.sh (sourced, not run).  They fetch Debian's kernel
# package and assemble busybox initramfs images from it.
#
# Both images use the same kernel: the package that linux-image-amd64 depends
# on, downloaded with `apt-get download` and unpacked with `dpkg-deb -x`.

# log MSG...: progress messages go to stderr so that stdout stays clean.
log() { echo "${LOG_NAME:-build-images}: $*" >&2; }
die() { echo "${LOG_NAME:-build-images}: error: $*" >&2; exit 1; }

# kernel_package_name: prints the versioned kernel package name
# (e.g. linux-image-6.1.0-56-amd64).  CAPVM_KERNEL_PKG overrides it.
kernel_package_name() {
	if [ -n "${CAPVM_KERNEL_PKG:-}" ]; then
		echo "$CAPVM_KERNEL_PKG"
		return
	fi
	local name
	name=$(apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\).*/\1/p' | head -n 1)
	if [ -z "$name" ]; then
		log "apt-cache knows no linux-image-amd64; running apt-get update"
		timeout 300 apt-get update -q >&2 || die "apt-get update failed"
		name=$(apt-cache depends linux-image-amd64 2>/dev/null |
			sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\).*/\1/p' | head -n 1)
	fi
	[ -n "$name" ] || die "cannot resolve the package that linux-image-amd64 depends on"
	echo "$name"
}

# kernel_fetch DIR: makes sure DIR/kernel holds the unpacked kernel package
# with a modules.dep (depmod), DIR/kernel.version its version (uname -r) and
# DIR/kernel.pkg the .deb file name.  Cached: nothing is done when
# DIR/kernel.pkg already names the package's current .deb.
kernel_fetch() {
	local dir=$1 pkg deb ver
	pkg=$(kernel_package_name)
	mkdir -p "$dir/dl"
	deb=$(ls "$dir/dl/${pkg}"_*.deb 2>/dev/null | head -n 1 || true)
	if [ -z "$deb" ]; then
		log "downloading $pkg"
		(cd "$dir/dl" && timeout 600 apt-get download -q "$pkg" >&2 2>/dev/null) ||
			(cd "$dir/dl" && timeout 600 apt-get download "$pkg" >&2) ||
			die "apt-get download $pkg failed"
		deb=$(ls "$dir/dl/${pkg}"_*.deb 2>/dev/null | head -n 1 || true)
		[ -n "$deb" ] || die "apt-get download $pkg produced no .deb"
	fi
	if [ -f "$dir/kernel.pkg" ] && [ "$(cat "$dir/kernel.pkg")" = "$(basename "$deb")" ] &&
	   [ -d "$dir/kernel" ] && [ -f "$dir/kernel.version" ]; then
		return 0
	fi
	log "unpacking $(basename "$deb")"
	rm -rf "$dir/kernel" "$dir/kernel.pkg" "$dir/kernel.version"
	mkdir -p "$dir/kernel"
	dpkg-deb -x "$deb" "$dir/kernel" || die "dpkg-deb -x $deb failed"
	ver=$(ls "$dir/kernel/lib/modules" | head -n 1)
	[ -n "$ver" ] && [ -f "$dir/kernel/boot/vmlinuz-$ver" ] ||
		die "$deb has no boot/vmlinuz-* and lib/modules/*"
	# Debian's package leaves modules.dep to its postinst; make it here.
	depmod -b "$dir/kernel" "$ver" || die "depmod failed"
	echo "$ver" > "$dir/kernel.version"
	basename "$deb" > "$dir/kernel.pkg"
}

# initramfs_base ROOT: a busybox-static tree with an applet link for every
# busybox command in /bin (and /sbin, /usr/bin, /usr/sbin pointing there).
initramfs_base() {
	local root=$1 bb a
	bb=$(command -v busybox) || die "busybox not found (install busybox-static)"
	# The initramfs has no libc: busybox must be the static build.
	if LC_ALL=C readelf -l "$bb" 2>/dev/null | grep -q INTERP; then
		die "$bb is dynamically linked (install busybox-static)"
	fi
	rm -rf "$root"
	mkdir -p "$root"/{bin,dev,proc,sys,tmp,run,etc,root,mnt,lib/modules,usr}
	cp "$bb" "$root/bin/busybox"
	for a in $("$bb" --list); do
		[ "$a" = busybox ] || ln -sf busybox "$root/bin/$a"
	done
	ln -s bin "$root/sbin"
	ln -s ../bin "$root/usr/bin"
	ln -s ../bin "$root/usr/sbin"
	chmod 1777 "$root/tmp"
}

# initramfs_modules ROOT KDIR VER LISTFILE...: copies the modules named in the
# list files (one name per line, '#' comments) and the modules they depend on
# into ROOT/lib/modules/, and writes ROOT/etc/capvm-modules: one line
# "NAME PATH" per module in load order (dependencies first, from modules.dep
# via modprobe --show-depends), "NAME builtin" or "NAME missing".  A module
# the kernel lacks is skipped with a message.
initramfs_modules() {
	local root=$1 kdir=$2 ver=$3; shift 3
	local list name line path rel deps seen=" "
	kdir=$(cd "$kdir" && pwd -P)
	: > "$root/etc/capvm-modules"
	for list in "$@"; do
		while read -r name _; do
			case $name in ''|'#'*) continue ;; esac
			if ! deps=$(modprobe -d "$kdir" -S "$ver" --show-depends "$name" 2>/dev/null) || [ -z "$deps" ]; then
				log "module $name: not in kernel $ver, skipped"
				echo "$name missing" >> "$root/etc/capvm-modules"
				continue
			fi
			while read -r line; do
				case $line in
				builtin\ *)
					log "module $name: built into the kernel"
					echo "$name builtin" >> "$root/etc/capvm-modules" ;;
				insmod\ *)
					path=${line#insmod }; path=${path%% *}
					rel=${path#"$kdir"/lib/modules/}
					case $seen in *" $rel "*) continue ;; esac
					seen="$seen$rel "
					mkdir -p "$root/lib/modules/$(dirname "$rel")"
					cp "$path" "$root/lib/modules/$rel"
					local base=${rel##*/}
					echo "${base%.ko} /lib/modules/$rel" >> "$root/etc/capvm-modules" ;;
				esac
			done <<< "$deps"
		done < "$list"
	done
}

# initramfs_pack ROOT OUT: writes ROOT as a gzip'd newc cpio archive, files
# owned by root, in a stable order.
initramfs_pack() {
	local root=$1 out=$2
	(cd "$root" && find . -mindepth 1 | LC_ALL=C sort |
		cpio -o -H newc -R 0:0 --quiet) | gzip -9n > "$out.tmp" || die "cpio failed"
	mv "$out.tmp" "$out"
}

# inputs_hash FILE...: one hash over the names and contents of the given
# files and directories (for the rebuild-when-inputs-change caches).
inputs_hash() {
	local f
	for f in "$@"; do
		if [ -d "$f" ]; then
			find "$f" -type f -o -type l | LC_ALL=C sort | while read -r g; do
				echo "$g"; sha256sum < "$g"; done
		elif [ -e "$f" ]; then
			echo "$f"; sha256sum < "$f"
		else
			echo "$f absent"
		fi
	done | sha256sum | cut -d' ' -f1
}
