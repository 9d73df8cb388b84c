"""The programs each official image has on its PATH: the allow-lists of the stand-ins.

A stand-in keeps, in its PATH folders (``/usr/local/sbin``, ``/usr/local/bin``, ``/usr/sbin``,
``/usr/bin``; ``/sbin`` and ``/bin`` are the same folders), only the programs named here, and
``RUNTIME_PROGRAMS``, which the emulator's container runtime itself runs in the root. The
pod scripts may call only what the list of the image that runs them names
(``tests/test_image_programs.py``). Where a list names a program that the Debian stand-in
does not have (``mysqlsh``, ``gosu``, ``microdnf``), no e2e run can prove a script that calls
it: the scripts call none of them. The evidence for each group is cited in docs/images.md.
"""

from __future__ import annotations

RUNTIME_PROGRAMS = frozenset({"setpriv"})
"""Kept in every stand-in for the emulator's runtime (it takes the pod's user with
util-linux's setpriv, as runc does in its own code); never a program of the image."""


def _names(*groups: str) -> frozenset[str]:
    return frozenset(name for group in groups for name in group.split())


# --- mysql:8.4 / mysql:9.x (docker-library/mysql, Dockerfile.oracle) -----------------------
# FROM oraclelinux:9-slim: bash, coreutils-single, grep, sed, curl, gnupg2, microdnf, rpm,
# shadow-utils, gawk (the Dockerfile runs groupadd/useradd, uname, mktemp, curl and gpg before
# it installs anything, grep/sed after; the image's docker-entrypoint.sh reads the server's
# settings with awk, mysql_get_config). No tar, procps, util-linux, hostname.
_OL9_SLIM = (
    "bash sh",
    "awk gawk",
    # coreutils(-single)
    "[ arch b2sum base32 base64 basename basenc cat chcon chgrp chmod chown chroot cksum comm cp csplit cut "
    "date dd df dir dircolors dirname du echo env expand expr factor false fmt fold groups head hostid id "
    "install join link ln logname ls md5sum mkdir mkfifo mknod mktemp mv nice nl nohup nproc numfmt od "
    "paste pathchk pinky pr printenv printf ptx pwd readlink realpath rm rmdir runcon seq sha1sum "
    "sha224sum sha256sum sha384sum sha512sum shred shuf sleep sort split stat stdbuf stty sum sync tac "
    "tail tee test timeout touch tr true truncate tsort tty uname unexpand uniq unlink users vdir wc who "
    "whoami yes",
    "grep egrep fgrep",
    "sed",
    "getent iconv ldconfig ldd locale",  # glibc, glibc-common
    "curl",
    "gpg gpgv gpg-agent gpgconf",
    "microdnf rpm rpmkeys rpmdb",
    "groupadd groupdel groupmod useradd userdel usermod chage gpasswd newgrp",
)
# RUN microdnf install -y bzip2 gzip openssl xz zstd findutils
_MYSQL_EXTRAS = (
    "bzip2 bunzip2 bzcat",
    "gzip gunzip zcat",
    "openssl",
    "xz unxz xzcat",
    "zstd unzstd zstdcat zstdmt pzstd",
    "find xargs",
    "gosu",
)
# mysql-community-server-minimal: mysqld and the client; the package's spec
# (packaging/rpm-docker/mysql.spec.in) deletes mysqlbinlog, mysqlcheck, mysqlimport,
# mysqlshow, mysqlslap, mysql_config_editor, perror, innochecksum, ibd2sdi, myisam*,
# mysqld_safe, mysqld_multi, mysqldumpslow and mysql_secure_installation.
# mysql-shell: mysqlsh. The image's entrypoint.
_MYSQL_PACKAGES = (
    "mysqld mysql mysqladmin mysqldump my_print_defaults mysql_tzinfo_to_sql mysql_migrate_keyring",
    "mysqlsh",
    "docker-entrypoint.sh",
)
MYSQL = _names(*_OL9_SLIM, *_MYSQL_EXTRAS, *_MYSQL_PACKAGES)

# --- mariadb:11.4 / 11.8 (MariaDB/mariadb-docker, 11.x/Dockerfile) -------------------------
# FROM ubuntu:noble, whose image holds the "required" packages of Ubuntu's minimal base.
_UBUNTU_NOBLE = (
    "bash rbash bashbug clear_console",
    "dash sh",
    _OL9_SLIM[2],  # coreutils: the same programs
    "chroot",
    "logger renice script scriptlive scriptreplay wall",  # bsdutils
    "ischroot run-parts savelog tempfile which which.debianutils add-shell installkernel remove-shell update-shells",  # debianutils
    "cmp diff diff3 sdiff",  # diffutils
    "dpkg dpkg-deb dpkg-divert dpkg-maintscript-helper dpkg-query dpkg-realpath dpkg-split "
    "dpkg-statoverride dpkg-trigger update-alternatives start-stop-daemon",
    "apt apt-cache apt-cdrom apt-config apt-get apt-mark",
    "debconf debconf-apt-progress debconf-communicate debconf-copydb debconf-escape "
    "debconf-set-selections debconf-show dpkg-preconfigure dpkg-reconfigure",
    "find xargs",
    "grep egrep fgrep rgrep",
    "gunzip gzexe gzip uncompress zcat zcmp zdiff zegrep zfgrep zforce zgrep zless zmore znew",
    "dnsdomainname domainname hostname nisdomainname ypdomainname",
    "deb-systemd-helper deb-systemd-invoke invoke-rc.d service update-rc.d",  # init-system-helpers
    "getconf getent iconv ld.so ldd locale localedef pldd tzselect zdump iconvconfig ldconfig zic",  # libc-bin
    "login newgrp sg nologin",
    "awk mawk nawk pager",
    "mount umount losetup swapoff swapon",
    "captoinfo clear infocmp infotocap reset tabs tic toe tput tset",  # ncurses-bin
    "chage chfn chsh expiry gpasswd passwd chgpasswd chpasswd groupadd groupdel groupmod grpck grpconv "
    "grpunconv newusers pwck pwconv pwunconv shadowconfig useradd userdel usermod vigr vipw",
    "perl",  # perl-base
    "sed",
    "pidof fstab-decode killall5",  # sysvinit-utils
    "tar rmt rmt-tar tarcat",
    "update-passwd",
    "faillock mkhomedir_helper pam_namespace_helper pam_timestamp_check pwhistory_helper unix_chkpwd "
    "unix_update pam-auth-update pam_getenv",  # libpam-modules-bin, libpam-runtime
    # util-linux
    "choom chrt dmesg fallocate findmnt flock getopt hardlink i386 ionice ipcmk ipcrm ipcs linux32 linux64 "
    "lsblk lscpu lsipc lslocks lslogins lsmem lsns mcookie more mountpoint namei nsenter partx prlimit "
    "rename.ul rev setarch setpriv setsid setterm su taskset uclampset unshare wdctl whereis x86_64 agetty "
    "blkdiscard blkid blkzone blockdev chcpu chmem findfs fsck fsfreeze fstrim getty isosize ldattach "
    "mkfs mkswap pivot_root readprofile rtcwake runuser sulogin swaplabel switch_root wipefs zramctl",
)
# apt-get install ca-certificates gpg gpgv libjemalloc2 libtcmalloc-minimal4t64 pwgen tzdata
# xz-utils zstd, gosu; then mariadb-server mariadb-backup socat, with the dependencies
# MariaDB's packaging (debian/control) gives mariadb-server: mariadb-client(-core),
# mariadb-server-core, galera-4, gawk, iproute2, libdbi-perl, lsof, perl, procps, psmisc,
# rsync, socat, adduser. The 11.x images have no mysql* compatibility names
# (MariaDB/mariadb-docker#519, #545).
_MARIADB_EXTRAS = (
    "update-ca-certificates gpg gpgv pwgen xz unxz xzcat zstd unzstd zstdcat zstdmt pzstd zstdgrep zstdless gosu",
    "addgroup adduser delgroup deluser",
    "gawk gawkbug",
    "ctstat ip lnstat nstat rdma routel rtstat ss arpd bridge dcb devlink genl rtacct rtmon tc tipc vdpa",
    "dbilogstrip dbiprof dbiproxy dh_perl_dbi",
    "lsof",
    "corelist cpan enc2xs encguess h2ph h2xs instmodsh json_pp libnetcfg perlbug perldoc perlivp perlthanks "
    "piconv pl2pm pod2html pod2man pod2text pod2usage podchecker prove ptar ptardiff ptargrep shasum splain "
    "streamzip xsubpp zipdetails",
    "free kill pgrep pidwait pkill pmap ps pwdx skill slabtop snice tload top uptime vmstat w watch sysctl",
    "fuser killall peekfd prtstat pslog pstree pstree.x11",
    "rrsync rsync rsync-ssl",
    "filan procan socat socat-broker.sh socat-chain.sh socat-mux.sh socat1",
)
_MARIADB_PACKAGES = (
    "mariabackup mariadb-backup mbstream",
    "innotop mariadb-access mariadb-admin mariadb-analyze mariadb-binlog mariadb-conv "
    "mariadb-convert-table-format mariadb-dump mariadb-dumpslow mariadb-find-rows mariadb-fix-extensions "
    "mariadb-hotcopy mariadb-import mariadb-optimize mariadb-plugin mariadb-repair mariadb-report "
    "mariadb-secure-installation mariadb-setpermission mariadb-show mariadb-slap mariadb-tzinfo-to-sql "
    "mariadb-waitpid mariadbcheck msql2mysql mytop perror replace resolve_stack_dump",
    "mariadb mariadb-check my_print_defaults",
    "aria_chk aria_dump_log aria_ftdump aria_pack aria_read_log galera_new_cluster galera_recovery "
    "mariadb-service-convert mariadbd-multi mariadbd-safe mariadbd-safe-helper myisam_ftdump myisamchk "
    "myisamlog myisampack wsrep_sst_backup wsrep_sst_common wsrep_sst_mariabackup wsrep_sst_mysqldump "
    "wsrep_sst_rsync wsrep_sst_rsync_wan",
    "innochecksum mariadb-install-db mariadb-upgrade resolveip mariadbd",
    "docker-entrypoint.sh healthcheck.sh",
)
MARIADB = _names(*_UBUNTU_NOBLE, *_MARIADB_EXTRAS, *_MARIADB_PACKAGES)

# --- mariadb:10.11 (MariaDB/mariadb-docker, 10.11/Dockerfile) --------------------------------
# FROM ubuntu:jammy, the same Dockerfile steps and packages as 11.x (mariadb-server=10.11.x,
# mariadb-backup, socat); MariaDB's 10.11 packages still ship the mysql* compatibility names,
# as links to the mariadb* programs (debian/*.links of the 10.11 packaging; Debian's 10.11
# packages ship the same links).
_MARIADB_10_COMPAT = (
    "mysql mysqlaccess mysqladmin mysqlanalyze mysqlcheck mysqldump mysqldumpslow mysqlimport mysqloptimize "
    "mysqlrepair mysqlreport mysqlshow mysqlslap mysql_find_rows mysql_fix_extensions mysql_waitpid",
    "mysql_install_db mysql_upgrade mysqld",
    "mysql_convert_table_format mysql_plugin mysql_secure_installation mysql_setpermission mysql_tzinfo_to_sql "
    "mysqlbinlog mysqld_multi mysqld_safe mysqld_safe_helper mysqlhotcopy",
)
MARIADB_10_11 = MARIADB | _names(*_MARIADB_10_COMPAT)

# --- rclone/rclone:1.75 (rclone's Dockerfile) -------------------------------------------------
# FROM alpine: busybox's applets (busybox --install -s), musl-utils, apk; then ca-certificates,
# fuse3, tzdata and rclone's release binary in /usr/local/bin.
_BUSYBOX_APPLETS = (
    "[ [[ acpid adjtimex ar arch arp arping ascii ash awk base64 basename bc blkdiscard blkid blockdev brctl "
    "bunzip2 bzcat bzip2 cal cat chattr chgrp chmod chown chroot chvt clear cmp cp cpio crc32 crond crontab "
    "cttyhack cut date dc dd deallocvt depmod devmem df diff dirname dmesg dnsdomainname dos2unix du "
    "dumpkmap dumpleases echo ed egrep env expand expr factor fallocate false fatattr fdisk fgrep find "
    "findfs fold free freeramdisk fsfreeze fstrim ftpget ftpput getfattr getopt getty grep groups gunzip "
    "gzip halt head hexdump hostid hostname httpd hwclock i2cdetect i2cdump i2cget i2cset i2ctransfer id "
    "ifconfig ifdown ifup init insmod install ionice ip ipcalc kill killall klogd last less link linux32 "
    "linux64 linuxrc ln loadfont loadkmap logger login logname logread losetup ls lsattr lsblk lsmod "
    "lsscsi lzcat lzma lzop md5sum mdev microcom mim mkdir mkdosfs mke2fs mkfifo mknod mkpasswd mkswap "
    "mktemp modinfo modprobe more mount mt mv nameif nbd-client nc netstat nl nologin nproc nsenter "
    "nslookup nuke od openvt partprobe passwd paste patch pidof ping ping6 pivot_root poweroff printf ps "
    "pwd rdate readlink realpath reboot renice reset resize resume rev rm rmdir rmmod route run-init "
    "run-parts sed seq setkeycodes setsid sh sha1sum sha256sum sha384sum sha3sum sha512sum shred shuf "
    "sleep sort ssl_client ssl_server start-stop-daemon stat strings stty su sulogin svc svok swapoff "
    "swapon switch_root sync sysctl syslogd tac tail tar taskset tc tee telnet test tftp time timeout top "
    "touch tr traceroute traceroute6 true truncate ts tty tunctl ubirename udhcpc udhcpc6 udhcpd uevent "
    "umount uname uncompress unexpand uniq unix2dos unlink unlzma unshare unxz unzip uptime usleep "
    "uudecode uuencode uuidgen vconfig vi vmstat w watch watchdog wc wget which who whoami xargs xxd xz "
    "xzcat yes zcat busybox",
)
_RCLONE_EXTRAS = (
    "getconf getent iconv ldd ldconfig scanelf apk",  # musl-utils, apk-tools
    "update-ca-certificates fusermount3 mount.fuse3",
    "rclone",
)
RCLONE = _names(*_BUSYBOX_APPLETS, *_RCLONE_EXTRAS)
